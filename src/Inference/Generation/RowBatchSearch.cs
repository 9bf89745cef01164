using System.Diagnostics;
using Serverless.Inference.Generation.Processing;
using Serverless.Inference.Model;

namespace Serverless.Inference.Generation;

/// <summary>
/// Greedy search and sampling over prompts that each bring their own parameters (a shared decode batch): one row per
/// prompt with its own logits processors, sampler, seed, stop strings and token limits. A row leaves as it finishes
/// (end-of-sequence, a stop string, its max_new_tokens, its cancellation); its result is reported at once, and once
/// enough rows have left, the stepper drops their rows of the KV cache and encoder output so later steps cost what the
/// live rows cost.
/// </summary>
/// <remarks>
/// Every row's numbers are those of the same prompt run alone: the rows of a batch never mix in ONNX Runtime, and each
/// row's processors and sampler only see that row. New prompts cannot join a running batch: the stock decoders have no
/// decoder self-attention mask, so rows at different positions cannot share a step.
/// </remarks>
internal static class RowBatchSearch
{
    /// <summary>
    /// Compact once at least this share of the stepper's rows has left. Compacting copies every per-row tensor; a
    /// finished row left in place costs its share of each step until then.
    /// </summary>
    internal const double CompactShare = 0.25;

    public static BatchPromptOutcome[] Run(T5Model model, IReadOnlyList<BatchPrompt> prompts, Action<int, BatchPromptOutcome>? onDone,
        CancellationToken cancellationToken)
    {
        var callStart = Stopwatch.GetTimestamp();
        var outcomes = new BatchPromptOutcome[prompts.Count];
        var rows = new List<Row>(prompts.Count);
        for (var i = 0; i < prompts.Count; i++)
        {
            var prompt = prompts[i];
            try
            {
                if (!BatchPrompt.CanShare(prompt.Options))
                    throw new ArgumentException("num_beams > 1 (beam search) cannot share a decode batch; run it on its own with GenerateAsync.");
                Generator.ValidateOptions(model, prompt.Options);
                var source = prompt.Ids is { } given ? PromptSource.FromIds([given]) : PromptSource.FromText([prompt.Text!]);
                rows.Add(new Row(i, prompt, source.Prepare(model, 0, prompt.Options.Truncation), model));
            }
            catch (Exception e) when (e is InferenceException or ArgumentException)
            {
                Report(i, new BatchPromptOutcome(null, e));
            }
        }
        if (rows.Count == 0)
            return outcomes;

        // Rows cancelled before the encoder runs never enter the batch.
        rows.RemoveAll(row =>
        {
            if (!row.Prompt.CancellationToken.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                return false;
            Finish(row, FinishReason.Cancelled, 0, 0, Stopwatch.GetTimestamp(), 0, 0);
            return true;
        });
        if (rows.Count == 0)
            return outcomes;

        var ids = new int[rows.Count][];
        for (var r = 0; r < ids.Length; r++)
            ids[r] = rows[r].Prepared.Ids;
        var (hidden, mask) = EncoderRun.Run(model, ids, 1, out var encodeTicks);
        using var stepper = new DecoderStepper(model, rows.Count, hidden, mask);
        var config = model.Config;
        var vocab = config.VocabSize;
        stepper.InputIds.Fill(config.DecoderStartTokenId);

        // live[p] is the row at stepper position p, null once it left (until the next compaction).
        var live = rows.ToArray<Row?>();
        var positions = new List<int>(live.Length);
        int left = 0, active = live.Length;
        var decodeStart = Stopwatch.GetTimestamp();
        long firstTokenAt = 0;
        for (var step = 0; active > 0; step++)
        {
            var logits = stepper.Step();
            if (step == 0)
                firstTokenAt = Stopwatch.GetTimestamp();
            var next = stepper.InputIds;
            for (var p = 0; p < live.Length; p++)
            {
                var row = live[p];
                if (row is null)
                {
                    next[p] = config.PadTokenId;
                    continue;
                }
                FinishReason? reason = null;
                if (cancellationToken.IsCancellationRequested || row.Prompt.CancellationToken.IsCancellationRequested)
                {
                    reason = FinishReason.Cancelled;
                }
                else
                {
                    var scores = logits.Slice(p * vocab, vocab);
                    row.Processors.Process(scores, row.Generated.AsSpan(0, row.Length));
                    var token = row.Sampler.Next(scores);
                    row.Generated[row.Length++] = token;
                    next[p] = token;
                    if (IsEos(config, token))
                        reason = FinishReason.Eos;
                    else if (row.Stops is not null && row.Stops.TryFind(model.Tokenizer.Decode(row.Generated.AsSpan(0, row.Length)), out _))
                        reason = FinishReason.Stop;
                    else if (row.Length == row.Prompt.Options.MaxNewTokens)
                        reason = FinishReason.Length;
                }
                if (reason is { } done)
                {
                    Finish(row, done, firstTokenAt, decodeStart, Stopwatch.GetTimestamp(), encodeTicks, encodeTicks + stepper.RunTicks);
                    live[p] = null;
                    next[p] = config.PadTokenId; // as HF feeds finished rows
                    left++;
                    active--;
                }
            }

            if (active > 0 && left > 0 && left >= Math.Max(1, (int)Math.Ceiling(live.Length * CompactShare)))
            {
                positions.Clear();
                for (var p = 0; p < live.Length; p++)
                {
                    if (live[p] is not null)
                        positions.Add(p);
                }
                stepper.Compact(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(positions));
                var kept = new Row?[positions.Count];
                for (var i = 0; i < kept.Length; i++)
                    kept[i] = live[positions[i]];
                live = kept;
                left = 0;
            }
        }
        return outcomes;

        void Report(int index, BatchPromptOutcome outcome)
        {
            outcomes[index] = outcome;
            onDone?.Invoke(index, outcome);
        }

        void Finish(Row row, FinishReason reason, long firstAt, long decodeAt, long finishedAt, long encode, long inside)
        {
            ReadOnlySpan<int> output = row.Generated.AsSpan(0, row.Length);
            var text = model.Tokenizer.Decode(output, skipSpecialTokens: true);
            if (row.Stops is not null && row.Stops.TryFind(text, out var cut))
            {
                text = text[..cut];
                if (reason != FinishReason.Cancelled)
                    reason = FinishReason.Stop;
            }
            var prepared = row.Prepared;
            var result = new GenerationResult(text, output.ToArray(), reason, prepared.Ids.Length, output.Length, model.ContextWindow,
                prepared.TokensTruncated,
                new GenerationTimings(prepared.Tokenize, Ticks(encode),
                    firstAt == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(callStart, firstAt),
                    Stopwatch.GetElapsedTime(callStart, finishedAt),
                    decodeAt == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(decodeAt, finishedAt),
                    Ticks(inside)));
            Report(row.Index, new BatchPromptOutcome(result, null));
        }
    }

    private static bool IsEos(T5Config config, int token)
    {
        foreach (var eos in config.EosTokenIds)
        {
            if (token == eos)
                return true;
        }
        return false;
    }

    private static TimeSpan Ticks(long stopwatchTicks) => TimeSpan.FromSeconds(stopwatchTicks / (double)Stopwatch.Frequency);

    /// <summary>One prompt's row: its processors, sampler (seeded per prompt) and what it generated so far.</summary>
    private sealed class Row(int index, BatchPrompt prompt, PreparedPrompt prepared, T5Model model)
    {
        public int Index { get; } = index;
        public BatchPrompt Prompt { get; } = prompt;
        public PreparedPrompt Prepared { get; } = prepared;
        public LogitsProcessorPipeline Processors { get; } =
            LogitsProcessorPipeline.Create(prompt.Options, model.Config.EosTokenId, model.Config.DecoderStartTokenId);
        public TokenSampler Sampler { get; } = new(prompt.Options);
        public StopStringMatcher? Stops { get; } = prompt.Options.StopStrings.Count > 0 ? new StopStringMatcher(prompt.Options.StopStrings) : null;
        public int[] Generated { get; } = new int[prompt.Options.MaxNewTokens];
        public int Length { get; set; }
    }
}
