using System.Diagnostics;
using Serverless.Inference.Generation.Processing;
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
        using var stepper = context.StartDecoder(context.Options.NumBeams);
        var search = new RunningBeams(context);
        stepper.InputIds.Fill(context.Model.Config.DecoderStartTokenId);
        var decodeStart = Stopwatch.GetTimestamp();
        long firstTokenAt = 0;
        var cancelled = false;
        for (var step = 0; step < context.Options.MaxNewTokens; step++)
        {
            if (context.CancellationToken.IsCancellationRequested)
            {
                cancelled = true;
                break;
            }
            var logits = stepper.Step();
            if (step == 0)
                firstTokenAt = Stopwatch.GetTimestamp();
            search.ChooseNext(logits, step);
            search.Reorder(stepper, step);
            if (search.AllDone)
                break;
        }
        context.RunTicks += stepper.RunTicks;
        search.Complete(cancelled, firstTokenAt, decodeStart);
    }

    /// <summary>
    /// The running beams of one batch: scores (float32, as torch keeps them) and token histories, double-buffered for
    /// reordering, and each prompt's finished hypotheses. Its buffers are allocated once per batch, not per step.
    /// </summary>
    private sealed class RunningBeams
    {
        private readonly DecodeBatch _context;
        private readonly T5Config _config;
        private readonly LogitsProcessorPipeline _pipeline;
        private readonly int _batch, _beams, _rows, _vocab, _maxNew;
        private float[] _beamScores;
        private int[] _sequences;
        private int[] _nextSequences;
        private float[] _nextScores;
        private readonly int[] _nextTokens;
        private readonly int[] _sourceRows;
        private readonly Hypotheses[] _hypotheses;
        private readonly bool[] _done;
        private readonly long[] _doneAt;
        private readonly float[] _candidateScores;
        private readonly int[] _candidateIndices;
        private int _steps;

        public RunningBeams(DecodeBatch context)
        {
            _context = context;
            _config = context.Model.Config;
            _pipeline = context.CreateProcessors();
            var options = context.Options;
            _batch = context.Prompts.Count;
            _beams = options.NumBeams;
            _rows = _batch * _beams;
            _vocab = _config.VocabSize;
            _maxNew = options.MaxNewTokens;
            _beamScores = new float[_rows];
            for (var r = 0; r < _rows; r++)
                _beamScores[r] = r % _beams == 0 ? 0f : -1e9f;
            _sequences = new int[_rows * _maxNew];
            _nextSequences = new int[_rows * _maxNew];
            _nextScores = new float[_rows];
            _nextTokens = new int[_rows];
            _sourceRows = new int[_rows];
            _hypotheses = new Hypotheses[_batch];
            for (var b = 0; b < _batch; b++)
                _hypotheses[b] = new Hypotheses(_beams, options.LengthPenalty, options.EarlyStopping);
            _done = new bool[_batch];
            _doneAt = new long[_batch];
            _candidateScores = new float[2 * _beams];
            _candidateIndices = new int[2 * _beams];
        }

        /// <summary>Whether every prompt of the batch is done.</summary>
        public bool AllDone
        {
            get
            {
                var all = true;
                foreach (var d in _done)
                    all &= d;
                return all;
            }
        }

        /// <summary>Chooses every prompt's next beams from this step's logits (changed in place).</summary>
        public void ChooseNext(Span<float> logits, int step)
        {
            for (var b = 0; b < _batch; b++)
            {
                if (_done[b])
                {
                    KeepPadding(b);
                    continue;
                }
                ScoreCandidates(logits, b, step);
                SelectBeams(logits, b, step);
            }
        }

        /// <summary>A finished prompt's beams carry on with padding from its first row.</summary>
        private void KeepPadding(int b)
        {
            for (var k = 0; k < _beams; k++)
            {
                var r = b * _beams + k;
                _nextScores[r] = 0;
                _nextTokens[r] = _config.PadTokenId;
                _sourceRows[r] = b * _beams;
            }
        }

        /// <summary>Each beam's log-probabilities after the processors, plus the beam's score so far.</summary>
        private void ScoreCandidates(Span<float> logits, int b, int step)
        {
            for (var k = 0; k < _beams; k++)
            {
                var r = b * _beams + k;
                var row = logits.Slice(r * _vocab, _vocab);
                LogSoftmax(row);
                _pipeline.Process(row, _sequences.AsSpan(r * _maxNew, step));
                var beamScore = _beamScores[r];
                for (var v = 0; v < row.Length; v++)
                    row[v] += beamScore;
            }
        }

        /// <summary>
        /// Walks the prompt's top 2K candidates best first: an EOS of rank &lt; K becomes a finished hypothesis, the others
        /// fill the K beams of the next step; then the "done" test.
        /// </summary>
        private void SelectBeams(Span<float> logits, int b, int step)
        {
            // The top 2K of the K × vocab candidates of this prompt, best first (torch.topk, sorted).
            var found = TopK(logits.Slice(b * _beams * _vocab, _beams * _vocab), _candidateScores, _candidateIndices);
            var filled = 0;
            for (var rank = 0; rank < found && filled < _beams; rank++)
            {
                var token = _candidateIndices[rank] % _vocab;
                var source = b * _beams + _candidateIndices[rank] / _vocab;
                var score = _candidateScores[rank];
                if (_context.IsEos(token))
                {
                    if (rank >= _beams)
                        continue;
                    _hypotheses[b].Add(_sequences.AsSpan(source * _maxNew, step), score, generatedLength: step + 1, endedWithEos: true);
                }
                else
                {
                    var r = b * _beams + filled;
                    _nextScores[r] = score;
                    _nextTokens[r] = token;
                    _sourceRows[r] = source;
                    filled++;
                }
            }
            if (_hypotheses[b].IsDone(_candidateScores[0], generatedLength: step + 1))
            {
                _done[b] = true;
                _doneAt[b] = Stopwatch.GetTimestamp();
            }
        }

        /// <summary>Reorders the histories and the self-attention cache, then appends this step's tokens.</summary>
        public void Reorder(DecoderStepper stepper, int step)
        {
            for (var r = 0; r < _rows; r++)
            {
                _sequences.AsSpan(_sourceRows[r] * _maxNew, step).CopyTo(_nextSequences.AsSpan(r * _maxNew, step));
                _nextSequences[r * _maxNew + step] = _nextTokens[r];
                stepper.InputIds[r] = _nextTokens[r];
            }
            (_sequences, _nextSequences) = (_nextSequences, _sequences);
            (_beamScores, _nextScores) = (_nextScores, _beamScores);
            stepper.Reorder(_sourceRows);
            _steps = step + 1;
        }

        /// <summary>Builds each prompt's result from its best hypothesis; running beams count as unfinished ones.</summary>
        public void Complete(bool cancelled, long firstTokenAt, long decodeStart)
        {
            var end = Stopwatch.GetTimestamp();
            for (var b = 0; b < _batch; b++)
            {
                if (!_done[b])
                {
                    for (var k = 0; k < _beams; k++)
                    {
                        var r = b * _beams + k;
                        _hypotheses[b].Add(_sequences.AsSpan(r * _maxNew, _steps), _beamScores[r], generatedLength: _steps, endedWithEos: false);
                    }
                }
                var best = _hypotheses[b].Best;
                var ids = best.EndedWithEos ? [.. best.Tokens, _config.EosTokenId] : best.Tokens;
                var reason = best.EndedWithEos ? FinishReason.Eos : cancelled ? FinishReason.Cancelled : FinishReason.Length;
                _context.Complete(b, ids, reason, firstTokenAt, decodeStart, _done[b] ? _doneAt[b] : end);
            }
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
