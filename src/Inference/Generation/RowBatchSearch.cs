using System.Diagnostics;
using Serverless.Inference.Generation.Processing;
using Serverless.Inference.Model;

namespace Serverless.Inference.Generation;

/// <summary>
/// Greedy search and sampling over prompts that each bring their own parameters (a shared decode batch): one row per
/// prompt with its own logits processors, sampler, seed, stop strings and token limits. A row leaves as it finishes
/// (end-of-sequence, a stop string, its max_new_tokens, its cancellation); its result is reported at once, and once
/// enough rows have left, the stepper drops their rows of the KV cache and encoder output so later steps cost what the
/// live rows cost. On a model that can (<see cref="T5Model.CanJoinRunningBatch"/>), new prompts join between steps.
/// </summary>
/// <remarks>
/// Every row's numbers are those of the same prompt run alone: the rows of a batch never mix in ONNX Runtime, and each
/// row's processors and sampler only see that row. Joining prompts run the encoder and their first decoder step as a
/// batch of their own, then their rows are appended to the running batch (<see cref="DecoderStepper.Absorb"/>). The
/// stock decoders have no decoder self-attention mask, so there rows at different positions cannot share a step and
/// <c>join</c> is never asked.
/// </remarks>
internal static class RowBatchSearch
{
    /// <summary>
    /// Compact once at least this share of the stepper's rows has left. Compacting copies every per-row tensor; a
    /// finished row left in place costs its share of each step until then.
    /// </summary>
    internal const double CompactShare = 0.25;

    /// <param name="join">Asked between steps, with the number of free rows, for prompts that join the running batch
    /// (none: an empty list); only on a model that <see cref="T5Model.CanJoinRunningBatch"/>. Joined prompts are numbered
    /// after <paramref name="prompts"/>, in the order they joined.</param>
    public static BatchPromptOutcome[] Run(T5Model model, IReadOnlyList<BatchPrompt> prompts, Action<int, BatchPromptOutcome>? onDone,
        Func<int, IReadOnlyList<BatchPrompt>>? join, CancellationToken cancellationToken)
    {
        var outcomes = new List<BatchPromptOutcome?>(prompts.Count);
        var config = model.Config;
        var vocab = config.VocabSize;
        if (!model.CanJoinRunningBatch)
            join = null;
        DecoderStepper? stepper = null;
        var live = new List<Row?>();   // live[p] is the row at stepper position p, null once it left (until compaction)
        var positions = new List<int>();
        int left = 0, active = 0;
        try
        {
            var incoming = prompts;
            while (true)
            {
                if (incoming.Count > 0)
                    Admit(incoming);
                if (active == 0)
                {
                    // Every row is done: nothing to step. A model that takes joiners asks once more before ending.
                    stepper?.Dispose();
                    stepper = null;
                    live.Clear();
                    left = 0;
                    incoming = join is not null && !cancellationToken.IsCancellationRequested ? join(model.Options.MaxBatchRows) : [];
                    if (incoming.Count == 0)
                        break;
                    continue;
                }

                var logits = stepper!.Step();
                var next = stepper.InputIds;
                for (var p = 0; p < live.Count; p++)
                {
                    if (live[p] is not { } row)
                    {
                        next[p] = config.PadTokenId;
                        continue;
                    }
                    if (Advance(row, logits.Slice(p * vocab, vocab), out var token) is { } reason)
                    {
                        Finish(row, reason, stepper.RunTicks);
                        live[p] = null;
                        next[p] = config.PadTokenId; // as HF feeds finished rows
                        left++;
                        active--;
                    }
                    else
                    {
                        next[p] = token;
                    }
                }

                if (active > 0 && left > 0 && left >= Math.Max(1, (int)Math.Ceiling(live.Count * CompactShare)))
                    DropLeftRows(joining: null);
                var free = model.Options.MaxBatchRows - active;
                incoming = join is not null && active > 0 && free > 0 && !cancellationToken.IsCancellationRequested ? join(free) : [];
            }
        }
        finally
        {
            stepper?.Dispose();
        }
        return outcomes.Select(o => o!).ToArray();

        // Prepares the incoming prompts (an error is the prompt's own), runs the encoder and the first decoder step over
        // those that can run, and appends their rows to the running batch.
        void Admit(IReadOnlyList<BatchPrompt> batch)
        {
            var admittedAt = Stopwatch.GetTimestamp();
            var rows = new List<Row>(batch.Count);
            foreach (var prompt in batch)
            {
                var index = outcomes.Count;
                outcomes.Add(null);
                try
                {
                    if (!BatchPrompt.CanShare(prompt.Options))
                        throw new ArgumentException("num_beams > 1 (beam search) cannot share a decode batch; run it on its own with GenerateAsync.");
                    Generator.ValidateOptions(model, prompt.Options);
                    var source = prompt.Ids is { } given ? PromptSource.FromIds([given]) : PromptSource.FromText([prompt.Text!]);
                    var row = new Row(index, prompt, source.Prepare(model, 0, prompt.Options.Truncation), model, admittedAt);
                    // A row cancelled before the encoder runs never enters the batch.
                    if (Cancelled(row))
                        Finish(row, FinishReason.Cancelled, 0);
                    else
                        rows.Add(row);
                }
                catch (Exception e) when (e is InferenceException or ArgumentException)
                {
                    Report(index, new BatchPromptOutcome(null, e));
                }
            }
            if (rows.Count == 0)
                return;

            var ids = new int[rows.Count][];
            for (var r = 0; r < ids.Length; r++)
                ids[r] = rows[r].Prepared.Ids;
            var (hidden, mask) = EncoderRun.Run(model, ids, 1, out var encodeTicks);
            var joining = new DecoderStepper(model, rows.Count, hidden, mask);
            try
            {
                joining.InputIds.Fill(config.DecoderStartTokenId);
                foreach (var row in rows)
                {
                    row.EncodeTicks = encodeTicks;
                    row.DecodeStart = Stopwatch.GetTimestamp();
                }
                var logits = joining.Step();
                var firstTokenAt = Stopwatch.GetTimestamp();
                var kept = new List<int>(rows.Count);
                for (var r = 0; r < rows.Count; r++)
                {
                    var row = rows[r];
                    row.FirstTokenAt = firstTokenAt;
                    if (Advance(row, logits.Slice(r * vocab, vocab), out var token) is { } reason)
                    {
                        Finish(row, reason, joining.RunTicks); // its first step was its only one
                        continue;
                    }
                    row.RunTicksBefore = -joining.RunTicks;
                    joining.InputIds[r] = token;
                    kept.Add(r);
                }
                if (kept.Count == 0)
                {
                    joining.Dispose();
                    return;
                }
                joining.Compact(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(kept));
                if (stepper is null)
                {
                    stepper = joining;
                }
                else
                {
                    // Rows that left since the last compaction are dropped in the same copy.
                    DropLeftRows(joining);
                }
                var offset = stepper.RunTicks;
                foreach (var r in kept)
                {
                    rows[r].RunTicksBefore += offset;
                    live.Add(rows[r]);
                    active++;
                }
            }
            catch
            {
                if (!ReferenceEquals(joining, stepper))
                    joining.Dispose();
                throw;
            }
        }

        // Drops the rows that left from the running stepper and appends joining's rows, if any, in one copy of every
        // per-row tensor.
        void DropLeftRows(DecoderStepper? joining)
        {
            positions.Clear();
            for (var p = 0; p < live.Count; p++)
            {
                if (live[p] is not null)
                    positions.Add(p);
            }
            var keep = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(positions);
            if (joining is null)
                stepper!.Compact(keep);
            else
                stepper!.Absorb(joining, keep);
            live.RemoveAll(row => row is null);
            left = 0;
        }

        bool Cancelled(Row row) => cancellationToken.IsCancellationRequested || row.Prompt.CancellationToken.IsCancellationRequested;

        // Chooses the row's next token from its scores; returns why the row is done, if it is.
        FinishReason? Advance(Row row, Span<float> scores, out int token)
        {
            token = config.PadTokenId;
            if (Cancelled(row))
                return FinishReason.Cancelled;
            row.Processors.Process(scores, row.Generated.AsSpan(0, row.Length));
            token = row.Sampler.Next(scores);
            row.Generated[row.Length++] = token;
            if (IsEos(config, token))
                return FinishReason.Eos;
            if (row.Stops is not null && row.Stops.TryFind(model.Tokenizer.Decode(row.Generated.AsSpan(0, row.Length)), out _))
                return FinishReason.Stop;
            if (row.Length == row.Prompt.Options.MaxNewTokens)
                return FinishReason.Length;
            return null;
        }

        void Report(int index, BatchPromptOutcome outcome)
        {
            outcomes[index] = outcome;
            onDone?.Invoke(index, outcome);
        }

        // stepperRunTicks: the running stepper's ONNX Runtime time now (0 when the row never joined it).
        void Finish(Row row, FinishReason reason, long stepperRunTicks)
        {
            var finishedAt = Stopwatch.GetTimestamp();
            ReadOnlySpan<int> output = row.Generated.AsSpan(0, row.Length);
            var text = model.Tokenizer.Decode(output, skipSpecialTokens: true);
            if (row.Stops is not null && row.Stops.TryFind(text, out var cut))
            {
                text = text[..cut];
                if (reason != FinishReason.Cancelled)
                    reason = FinishReason.Stop;
            }
            var prepared = row.Prepared;
            var inside = row.EncodeTicks + (stepperRunTicks == 0 ? 0 : stepperRunTicks - row.RunTicksBefore);
            var result = new GenerationResult(text, output.ToArray(), reason, prepared.Ids.Length, output.Length, model.ContextWindow,
                prepared.TokensTruncated,
                new GenerationTimings(prepared.Tokenize, Ticks(row.EncodeTicks),
                    row.FirstTokenAt == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(row.AdmittedAt, row.FirstTokenAt),
                    Stopwatch.GetElapsedTime(row.AdmittedAt, finishedAt),
                    row.DecodeStart == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(row.DecodeStart, finishedAt),
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

    /// <summary>One prompt's row: its processors, sampler (seeded per prompt), what it generated so far and its timings.</summary>
    private sealed class Row(int index, BatchPrompt prompt, PreparedPrompt prepared, T5Model model, long admittedAt)
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
        public long AdmittedAt { get; } = admittedAt;
        public long DecodeStart { get; set; }
        public long FirstTokenAt { get; set; }
        public long EncodeTicks { get; set; }
        /// <summary>The running stepper's ONNX Runtime ticks that were not this row's (before it joined), less its first step's.</summary>
        public long RunTicksBefore { get; set; }
    }
}
