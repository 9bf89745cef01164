using System.Diagnostics;
using Serverless.Inference.Model;

namespace Serverless.Inference.Generation;

/// <summary>
/// Hugging Face beam search (<c>BeamSearchScorer</c> / <c>BeamHypotheses</c> of transformers 4.38–4.49), matching
/// scripts/reference/generate.py step for step: fp32 log-softmax scores summed per beam, the top 2·K candidates
/// walked in order (EOS of rank &lt; K becomes a finished hypothesis), hypothesis score
/// <c>sum_logprobs / generated_len ^ length_penalty</c> with generated_len counting the EOS, and the
/// early_stopping / heuristic "done" test.
/// </summary>
internal static class BeamSearch
{
    public static void Run(DecodeBatch context)
    {
        var model = context.Model;
        var config = model.Config;
        var options = context.Options;
        var batch = context.Prompts.Count;
        var beams = options.NumBeams;
        var rows = batch * beams;
        var vocab = config.VocabSize;
        var maxNew = options.MaxNewTokens;

        using var stepper = context.StartDecoder(beams);
        var pipeline = context.CreateProcessors();

        // Running beams: scores (float32, as torch keeps them) and token histories, double-buffered for reordering.
        var beamScores = new float[rows];
        for (var r = 0; r < rows; r++)
            beamScores[r] = r % beams == 0 ? 0f : -1e9f;
        var sequences = new int[rows * maxNew];
        var nextSequences = new int[rows * maxNew];
        var nextScores = new float[rows];
        var nextTokens = new int[rows];
        var sourceRows = new int[rows];
        var hypotheses = new Hypotheses[batch];
        for (var b = 0; b < batch; b++)
            hypotheses[b] = new Hypotheses(beams, options.LengthPenalty, options.EarlyStopping);
        var done = new bool[batch];
        var doneAt = new long[batch];
        var candidateScores = new float[2 * beams];
        var candidateIndices = new int[2 * beams];

        stepper.InputIds.Fill(config.DecoderStartTokenId);
        var decodeStart = Stopwatch.GetTimestamp();
        long firstTokenAt = 0;
        var steps = 0;
        var cancelled = false;
        for (var step = 0; step < maxNew; step++)
        {
            if (context.CancellationToken.IsCancellationRequested)
            {
                cancelled = true;
                break;
            }
            var logits = stepper.Step();
            if (step == 0)
                firstTokenAt = Stopwatch.GetTimestamp();

            for (var b = 0; b < batch; b++)
            {
                if (done[b])
                {
                    for (var k = 0; k < beams; k++)
                    {
                        var r = b * beams + k;
                        nextScores[r] = 0;
                        nextTokens[r] = config.PadTokenId;
                        sourceRows[r] = b * beams;
                    }
                    continue;
                }

                for (var k = 0; k < beams; k++)
                {
                    var r = b * beams + k;
                    var row = logits.Slice(r * vocab, vocab);
                    LogSoftmax(row);
                    pipeline.Process(row, sequences.AsSpan(r * maxNew, step));
                    var beamScore = beamScores[r];
                    for (var v = 0; v < row.Length; v++)
                        row[v] += beamScore;
                }
                // The top 2K of the K × vocab candidates of this prompt, best first (torch.topk, sorted).
                var found = TopK(logits.Slice(b * beams * vocab, beams * vocab), candidateScores, candidateIndices);

                var filled = 0;
                for (var rank = 0; rank < found && filled < beams; rank++)
                {
                    var token = candidateIndices[rank] % vocab;
                    var source = b * beams + candidateIndices[rank] / vocab;
                    var score = candidateScores[rank];
                    if (context.IsEos(token))
                    {
                        if (rank >= beams)
                            continue;
                        hypotheses[b].Add(sequences.AsSpan(source * maxNew, step), score, generatedLength: step + 1, endedWithEos: true);
                    }
                    else
                    {
                        var r = b * beams + filled;
                        nextScores[r] = score;
                        nextTokens[r] = token;
                        sourceRows[r] = source;
                        filled++;
                    }
                }
                if (hypotheses[b].IsDone(candidateScores[0], generatedLength: step + 1))
                {
                    done[b] = true;
                    doneAt[b] = Stopwatch.GetTimestamp();
                }
            }

            // Reorder the histories and the self-attention cache, then append this step's tokens.
            for (var r = 0; r < rows; r++)
            {
                sequences.AsSpan(sourceRows[r] * maxNew, step).CopyTo(nextSequences.AsSpan(r * maxNew, step));
                nextSequences[r * maxNew + step] = nextTokens[r];
                stepper.InputIds[r] = nextTokens[r];
            }
            (sequences, nextSequences) = (nextSequences, sequences);
            (beamScores, nextScores) = (nextScores, beamScores);
            stepper.Reorder(sourceRows);
            steps = step + 1;

            var all = true;
            foreach (var d in done)
                all &= d;
            if (all)
                break;
        }

        context.RunTicks += stepper.RunTicks;
        var end = Stopwatch.GetTimestamp();
        for (var b = 0; b < batch; b++)
        {
            if (!done[b])
            {
                for (var k = 0; k < beams; k++)
                {
                    var r = b * beams + k;
                    hypotheses[b].Add(sequences.AsSpan(r * maxNew, steps), beamScores[r], generatedLength: steps, endedWithEos: false);
                }
            }
            var best = hypotheses[b].Best;
            var ids = best.EndedWithEos ? [.. best.Tokens, config.EosTokenId] : best.Tokens;
            var reason = best.EndedWithEos ? FinishReason.Eos : cancelled ? FinishReason.Cancelled : FinishReason.Length;
            context.Complete(b, ids, reason, firstTokenAt, decodeStart, done[b] ? doneAt[b] : end);
        }
    }

    /// <summary>log_softmax in place, in float32 like torch (the sum of exponentials is accumulated in double).</summary>
    internal static void LogSoftmax(Span<float> row)
    {
        var max = float.NegativeInfinity;
        foreach (var x in row)
            max = Math.Max(max, x);
        double sum = 0;
        foreach (var x in row)
            sum += Math.Exp(x - max);
        var logSum = (float)Math.Log(sum);
        for (var i = 0; i < row.Length; i++)
            row[i] = row[i] - max - logSum;
    }

    /// <summary>
    /// The <c>scores.Length</c> largest values of <paramref name="row"/>, best first; on ties the lower index first.
    /// Returns how many were found (fewer only if the row is shorter). NaN counts as negative infinity (as the sampler
    /// counts it); <see cref="Processing.LogSoftmax"/> lists the most likely tokens with it too.
    /// </summary>
    internal static int TopK(ReadOnlySpan<float> row, Span<float> scores, Span<int> indices)
    {
        var k = scores.Length;
        var count = 0;
        for (var i = 0; i < row.Length; i++)
        {
            var x = float.IsNaN(row[i]) ? float.NegativeInfinity : row[i];
            if (count == k && !(x > scores[k - 1]))
                continue;
            var pos = count < k ? count++ : k - 1;
            while (pos > 0 && x > scores[pos - 1])
            {
                scores[pos] = scores[pos - 1];
                indices[pos] = indices[pos - 1];
                pos--;
            }
            scores[pos] = x;
            indices[pos] = i;
        }
        return count;
    }

    /// <summary>The best K finished hypotheses of one prompt (HF <c>BeamHypotheses</c>).</summary>
    private sealed class Hypotheses(int beams, double lengthPenalty, bool earlyStopping)
    {
        public sealed record Entry(double Score, int[] Tokens, bool EndedWithEos);

        private readonly List<Entry> _entries = new(beams + 1);
        private double _worst = 1e9;

        public void Add(ReadOnlySpan<int> tokens, float sumLogProbs, int generatedLength, bool endedWithEos)
        {
            var score = sumLogProbs / Math.Pow(generatedLength, lengthPenalty);
            if (_entries.Count < beams || score > _worst)
            {
                _entries.Add(new Entry(score, tokens.ToArray(), endedWithEos));
                if (_entries.Count > beams)
                {
                    // Drop the worst (the first of equal scores, as Python's sort of (score, index) pairs does).
                    var worst = 0;
                    for (var i = 1; i < _entries.Count; i++)
                    {
                        if (_entries[i].Score < _entries[worst].Score)
                            worst = i;
                    }
                    _entries.RemoveAt(worst);
                    _worst = _entries.Min(e => e.Score);
                }
                else
                {
                    _worst = Math.Min(score, _worst);
                }
            }
        }

        public bool IsDone(float bestCandidateScore, int generatedLength)
        {
            if (_entries.Count < beams)
                return false;
            if (earlyStopping)
                return true;
            var highestAttainable = bestCandidateScore / Math.Pow(generatedLength, lengthPenalty);
            return _worst >= highestAttainable;
        }

        /// <summary>The highest score; among equal scores the one added last (Python's stable sort, last element).</summary>
        public Entry Best
        {
            get
            {
                var best = _entries[0];
                foreach (var e in _entries)
                {
                    if (e.Score >= best.Score)
                        best = e;
                }
                return best;
            }
        }
    }
}
