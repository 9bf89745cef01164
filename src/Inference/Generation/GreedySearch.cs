using System.Diagnostics;
using Serverless.Inference.Generation.Processing;
using Serverless.Inference.Model;

namespace Serverless.Inference.Generation;

/// <summary>
/// Greedy search and sampling (num_beams = 1): one row per prompt, the logits processors, then the most likely token or
/// a draw from the warped distribution, until end-of-sequence, a stop string or max_new_tokens.
/// </summary>
internal static class GreedySearch
{
    public static void Run(DecodeBatch context)
    {
        var model = context.Model;
        var config = model.Config;
        var options = context.Options;
        var rows = context.Prompts.Count;
        var vocab = config.VocabSize;
        var maxNew = options.MaxNewTokens;

        using var stepper = context.StartDecoder(1);
        var pipeline = context.CreateProcessors();
        var samplers = new TokenSampler[rows];
        var generated = new int[rows][];
        var lengths = new int[rows];
        var finished = new FinishReason?[rows];
        var finishedAt = new long[rows];
        for (var r = 0; r < rows; r++)
        {
            // One sampler per row, each seeded with the request's seed: a row's sample does not depend on its batch.
            samplers[r] = new TokenSampler(options);
            generated[r] = new int[maxNew];
        }
        var stops = options.StopStrings.Count > 0 ? new StopStringMatcher(options.StopStrings) : null;

        stepper.InputIds.Fill(config.DecoderStartTokenId);
        var decodeStart = Stopwatch.GetTimestamp();
        long firstTokenAt = 0;
        var active = rows;
        for (var step = 0; step < maxNew && active > 0; step++)
        {
            if (context.CancellationToken.IsCancellationRequested)
                break;
            var logits = stepper.Step();
            if (step == 0)
                firstTokenAt = Stopwatch.GetTimestamp();
            var next = stepper.InputIds;
            for (var r = 0; r < rows; r++)
            {
                if (finished[r] is not null)
                {
                    next[r] = config.PadTokenId; // HF feeds pad to finished rows
                    continue;
                }
                var row = logits.Slice(r * vocab, vocab);
                pipeline.Process(row, generated[r].AsSpan(0, lengths[r]));
                context.ScoreObserver?.OnScores(context.Offset + r, step, row);
                var token = samplers[r].Next(row);
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
                {
                    context.Observer?.OnToken(r, generated[r].AsSpan(0, lengths[r]));
                }
                else
                {
                    finished[r] = reason;
                    finishedAt[r] = Stopwatch.GetTimestamp();
                    active--;
                }
            }
        }

        context.RunTicks += stepper.RunTicks;
        var end = Stopwatch.GetTimestamp();
        for (var r = 0; r < rows; r++)
        {
            var reason = finished[r] ?? (context.CancellationToken.IsCancellationRequested ? FinishReason.Cancelled : FinishReason.Length);
            context.Complete(r, generated[r].AsSpan(0, lengths[r]), reason, firstTokenAt, decodeStart, finished[r] is null ? end : finishedAt[r]);
        }
    }
}
