using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.ML.OnnxRuntime;
using Serverless.Inference.Model;

namespace Serverless.Inference.Generation;

/// <summary>The decode loop: encoder once per batch, then one decoder step per token (greedy, sampling or beams).</summary>
internal static class Generator
{
    public static void ValidateOptions(T5Model model, GenerationOptions options)
    {
        IReadOnlyList<OptionError> errors = options.Validate(model.Options.MaxNewTokensCeiling);
        if (errors.Count > 0)
            throw new InvalidGenerationOptionsException(errors);
    }

    public static IReadOnlyList<GenerationResult> Generate(T5Model model, PromptSource source, GenerationOptions options,
        ITokenObserver? observer, CancellationToken cancellationToken, IScoreObserver? scoreObserver = null)
    {
        long callStart = Stopwatch.GetTimestamp();
        var prepared = new PreparedPrompt[source.Count];
        for (int i = 0; i < prepared.Length; i++)
            prepared[i] = source.Prepare(model, i, options.Truncation);

        var results = new GenerationResult[prepared.Length];
        int beams = Math.Max(1, options.NumBeams);
        int perBatch = Math.Max(1, model.Options.MaxBatchRows / beams);
        for (int offset = 0; offset < prepared.Length; offset += perBatch)
        {
            var batch = new ArraySegment<PreparedPrompt>(prepared, offset, Math.Min(perBatch, prepared.Length - offset));
            var context = new BatchContext(model, batch, offset, options, observer, callStart, results, cancellationToken)
            {
                ScoreObserver = scoreObserver,
            };
            if (beams > 1)
                BeamSearch.Run(context);
            else
                RunGreedyOrSampling(context);
        }
        return results;
    }

    public static async IAsyncEnumerable<string> Stream(T5Model model, PromptSource source, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var assembler = new StreamingText(model.Tokenizer, options.StopStrings, channel.Writer);
        Task<GenerationResult> worker = Task.Run(() =>
        {
            try
            {
                GenerationResult result = Generate(model, source, options, assembler, stop.Token)[0];
                assembler.Finish(result.Text);
                return result;
            }
            finally
            {
                channel.Writer.TryComplete();
            }
        }, stop.Token);

        try
        {
            await foreach (string piece in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                // Pieces may be buffered ahead of the consumer: stop at once when cancelled, not after the backlog.
                cancellationToken.ThrowIfCancellationRequested();
                yield return piece;
            }
            GenerationResult done = await worker.ConfigureAwait(false);
            if (done.FinishReason == FinishReason.Cancelled)
                throw new OperationCanceledException("The completion was cancelled.", cancellationToken);
        }
        finally
        {
            // The consumer may stop early: end the decode loop too and let it finish before we return.
            stop.Cancel();
            try
            {
                await worker.ConfigureAwait(false);
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                // Already reported above, or nobody is listening any more.
            }
        }
    }

    /// <summary>Everything one batch needs; the per-call state lives here and in the <see cref="DecoderStepper"/>.</summary>
    internal sealed class BatchContext(T5Model model, ArraySegment<PreparedPrompt> prompts, int offset, GenerationOptions options,
        ITokenObserver? observer, long callStart, GenerationResult[] results, CancellationToken cancellationToken)
    {
        public T5Model Model { get; } = model;
        public ArraySegment<PreparedPrompt> Prompts { get; } = prompts;
        public int Offset { get; } = offset;
        public GenerationOptions Options { get; } = options;
        public ITokenObserver? Observer { get; } = observer;
        public long CallStart { get; } = callStart;
        public GenerationResult[] Results { get; } = results;
        public CancellationToken CancellationToken { get; } = cancellationToken;
        public IScoreObserver? ScoreObserver { get; init; }
        public long EncodeTicks { get; set; }
        public long RunTicks { get; set; }

        public bool IsEos(int token)
        {
            foreach (int eos in Model.Config.EosTokenIds)
            {
                if (token == eos)
                    return true;
            }
            return false;
        }

        /// <summary>Builds a prompt's result: decodes the text and cuts it at the first stop string.</summary>
        public void Complete(int index, ReadOnlySpan<int> outputIds, FinishReason reason, long firstTokenAt, long decodeStart, long finishedAt)
        {
            string text = Model.Tokenizer.Decode(outputIds, skipSpecialTokens: true);
            if (Options.StopStrings.Count > 0 && new StopStringMatcher(Options.StopStrings).TryFind(text, out int cut))
            {
                text = text[..cut];
                if (reason != FinishReason.Cancelled)
                    reason = FinishReason.Stop;
            }
            PreparedPrompt prompt = Prompts[index];
            Results[Offset + index] = new GenerationResult(text, outputIds.ToArray(), reason, prompt.Ids.Length, outputIds.Length,
                Model.ContextWindow, prompt.TokensTruncated,
                new GenerationTimings(prompt.Tokenize, Ticks(EncodeTicks),
                    firstTokenAt == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(CallStart, firstTokenAt),
                    Stopwatch.GetElapsedTime(CallStart, finishedAt),
                    decodeStart == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(decodeStart, finishedAt),
                    Ticks(RunTicks)));
        }

        private static TimeSpan Ticks(long stopwatchTicks) => TimeSpan.FromSeconds(stopwatchTicks / (double)Stopwatch.Frequency);
    }

    /// <summary>
    /// Runs the encoder over a right-padded batch; returns <c>last_hidden_state</c> and the attention mask, each
    /// repeated <paramref name="repeat"/> times per prompt (beam search) as OrtValues the caller owns.
    /// </summary>
    internal static (OrtValue Hidden, OrtValue Mask) Encode(BatchContext context, int repeat)
    {
        T5Model model = context.Model;
        ArraySegment<PreparedPrompt> prompts = context.Prompts;
        int batch = prompts.Count;
        int length = 0;
        foreach (PreparedPrompt p in prompts)
            length = Math.Max(length, p.Ids.Length);

        var ids = new long[batch * length];
        var mask = new long[batch * length];
        ids.AsSpan().Fill(model.Config.PadTokenId);
        for (int b = 0; b < batch; b++)
        {
            int[] row = prompts[b].Ids;
            for (int t = 0; t < row.Length; t++)
            {
                ids[b * length + t] = row[t];
                mask[b * length + t] = 1;
            }
        }

        long start = Stopwatch.GetTimestamp();
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, [batch, length]);
        var maskValue = OrtValue.CreateTensorValueFromMemory(mask, [batch, length]);
        OrtValue hidden;
        try
        {
            using var runOptions = new RunOptions();
            IDisposableReadOnlyCollection<OrtValue> outputs;
            try
            {
                outputs = model.Encoder.Run(runOptions, ["input_ids", "attention_mask"], [idsValue, maskValue], ["last_hidden_state"]);
            }
            catch (OnnxRuntimeException e)
            {
                throw new InferenceException($"ONNX Runtime failed to run the encoder of the model in '{model.Files.Directory}': {e.Message}", e);
            }
            hidden = outputs[0];
        }
        catch
        {
            maskValue.Dispose();
            throw;
        }
        long elapsed = Stopwatch.GetTimestamp() - start;
        context.EncodeTicks += elapsed;
        context.RunTicks += elapsed;
        if (repeat == 1)
            return (hidden, maskValue);

        // Beam search: every beam of a prompt attends to the same encoder output. Copied once per call.
        using (hidden)
        using (maskValue)
        {
            ReadOnlySpan<float> source = hidden.GetTensorDataAsSpan<float>();
            int rowSize = source.Length / batch;
            var expanded = new float[source.Length * repeat];
            var expandedMask = new long[mask.Length * repeat];
            for (int b = 0; b < batch; b++)
            {
                for (int k = 0; k < repeat; k++)
                {
                    source.Slice(b * rowSize, rowSize).CopyTo(expanded.AsSpan((b * repeat + k) * rowSize, rowSize));
                    mask.AsSpan(b * length, length).CopyTo(expandedMask.AsSpan((b * repeat + k) * length, length));
                }
            }
            return (OrtValue.CreateTensorValueFromMemory(expanded, [batch * repeat, length, model.Config.DModel]),
                OrtValue.CreateTensorValueFromMemory(expandedMask, [batch * repeat, length]));
        }
    }

    private static void RunGreedyOrSampling(BatchContext context)
    {
        T5Model model = context.Model;
        T5Config config = model.Config;
        GenerationOptions options = context.Options;
        int rows = context.Prompts.Count;
        int vocab = config.VocabSize;
        int maxNew = options.MaxNewTokens;

        var (hidden, mask) = Encode(context, 1);
        using var stepper = new DecoderStepper(model, rows, hidden, mask);
        var pipeline = LogitsProcessorPipeline.Create(options, config.EosTokenId, config.DecoderStartTokenId);
        var samplers = new TokenSampler[rows];
        var generated = new int[rows][];
        var lengths = new int[rows];
        var finished = new FinishReason?[rows];
        var finishedAt = new long[rows];
        for (int r = 0; r < rows; r++)
        {
            // One sampler per row, each seeded with the request's seed: a row's sample does not depend on its batch.
            samplers[r] = new TokenSampler(options);
            generated[r] = new int[maxNew];
        }
        StopStringMatcher? stops = options.StopStrings.Count > 0 ? new StopStringMatcher(options.StopStrings) : null;

        stepper.InputIds.Fill(config.DecoderStartTokenId);
        long decodeStart = Stopwatch.GetTimestamp();
        long firstTokenAt = 0;
        int active = rows;
        for (int step = 0; step < maxNew && active > 0; step++)
        {
            if (context.CancellationToken.IsCancellationRequested)
                break;
            Span<float> logits = stepper.Step();
            if (step == 0)
                firstTokenAt = Stopwatch.GetTimestamp();
            Span<long> next = stepper.InputIds;
            for (int r = 0; r < rows; r++)
            {
                if (finished[r] is not null)
                {
                    next[r] = config.PadTokenId; // HF feeds pad to finished rows
                    continue;
                }
                Span<float> row = logits.Slice(r * vocab, vocab);
                pipeline.Process(row, generated[r].AsSpan(0, lengths[r]));
                context.ScoreObserver?.OnScores(context.Offset + r, step, row);
                int token = samplers[r].Next(row);
                generated[r][lengths[r]++] = token;
                next[r] = token;

                FinishReason? reason = null;
                if (context.IsEos(token))
                    reason = FinishReason.Eos;
                else if (stops is not null && stops.TryFind(model.Tokenizer.Decode(generated[r].AsSpan(0, lengths[r])), out _))
                    reason = FinishReason.Stop;
                else if (lengths[r] == maxNew)
                    reason = FinishReason.Length;
                if (reason is null)
                    context.Observer?.OnToken(r, generated[r].AsSpan(0, lengths[r]));
                else
                {
                    finished[r] = reason;
                    finishedAt[r] = Stopwatch.GetTimestamp();
                    active--;
                }
            }
        }

        context.RunTicks += stepper.RunTicks;
        long end = Stopwatch.GetTimestamp();
        for (int r = 0; r < rows; r++)
        {
            FinishReason reason = finished[r] ?? (context.CancellationToken.IsCancellationRequested ? FinishReason.Cancelled : FinishReason.Length);
            context.Complete(r, generated[r].AsSpan(0, lengths[r]), reason, firstTokenAt, decodeStart, finished[r] is null ? end : finishedAt[r]);
        }
    }
}
