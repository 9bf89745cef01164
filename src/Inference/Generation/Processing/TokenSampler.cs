namespace Serverless.Inference.Generation.Processing;

/// <summary>
/// Chooses the next token from one row of processed scores: argmax when <see cref="GenerationOptions.DoSample"/>
/// is off, otherwise HF's warpers (temperature, then top_k, then top_p) followed by a draw from the softmax.
/// </summary>
/// <remarks>
/// Draws come from xoshiro256** seeded through SplitMix64 with <see cref="GenerationOptions.Seed"/>, so a seed gives
/// the same tokens on every machine and .NET version (given the same scores); without a seed the generator is
/// seeded from the operating system. Scores are processed in float32 as HF does; probabilities are summed in
/// double. NaN scores count as -infinity. One instance per request: it reuses its own buffers and is not
/// thread-safe; <see cref="Next"/> allocates nothing after the first call with a given row length.
/// </remarks>
internal sealed class TokenSampler
{
    private readonly bool _doSample;
    private readonly float _temperature; // 1 = off
    private readonly int _topK;          // 0 = off
    private readonly double _topP;       // 1 = off
    private Xoshiro256StarStar _rng;

    private float[] _scores = [];   // the warped row
    private float[] _scratch = [];  // quickselect workspace for top_k
    private int[] _candidates = []; // finite-score token ids, ascending; a heap during top_p
    private int[] _kept = [];       // tokens surviving top_p, most probable first
    private double[] _weights = []; // exp(score - max) per surviving token id

    public TokenSampler(GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _doSample = options.DoSample;
        _temperature = (float)options.Temperature;
        _topK = options.TopK;
        _topP = options.TopP;
        if (_doSample && (!(_temperature > 0) || !float.IsFinite(_temperature) || _topK < 0 || !(_topP > 0 && _topP <= 1)))
        {
            throw new ArgumentException(
                $"Sampling needs temperature > 0, top_k >= 0 and top_p in (0, 1] (got {options.Temperature}, {options.TopK}, {options.TopP}); call GenerationOptions.Validate first.",
                nameof(options));
        }

        _rng = options.Seed is { } seed ? new Xoshiro256StarStar(seed) : Xoshiro256StarStar.FromEntropy();
    }

    /// <summary>The next token id for one row of scores (already passed through <see cref="LogitsProcessorPipeline"/>).</summary>
    public int Next(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty)
            throw new ArgumentException("The score row is empty.", nameof(logits));
        return _doSample ? Sample(logits) : ArgMax(logits);
    }

    /// <summary>The index of the largest score; the first one on ties (as torch.argmax); 0 if none is finite or +inf.</summary>
    internal static int ArgMax(ReadOnlySpan<float> logits)
    {
        var best = 0;
        var bestScore = float.NegativeInfinity;
        for (var i = 0; i < logits.Length; i++)
        {
            if (logits[i] > bestScore)
            {
                bestScore = logits[i];
                best = i;
            }
        }
        return best;
    }

    private int Sample(ReadOnlySpan<float> logits)
    {
        var kept = Warp(logits, out var max);
        // Every token is banned: HF would fail on a NaN distribution; fall back to what greedy search would pick.
        if (kept.IsEmpty)
            return ArgMax(logits);
        if (float.IsPositiveInfinity(max))
            return ArgMax(_scores.AsSpan(0, logits.Length));
        ReadOnlySpan<double> weights = _weights;

        // HF: softmax over the warped scores, then torch.multinomial. Here: one uniform draw against the cumulative
        // weights, walking the kept tokens in the order Warp returns them.
        double total = 0;
        foreach (var id in kept)
            total += weights[id];
        var target = _rng.NextDouble() * total;
        double cumulative = 0;
        foreach (var id in kept)
        {
            cumulative += weights[id];
            if (target < cumulative)
                return id;
        }
        return kept[^1]; // rounding left the target at the very top
    }

    /// <summary>
    /// Applies temperature, top_k and top_p; returns the surviving token ids (ascending without top_p, most probable
    /// first with it) and their largest warped score. The warped scores stay in <see cref="_scores"/> and, unless the
    /// maximum is +infinity, exp(score - max) of every surviving token in <see cref="_weights"/>.
    /// </summary>
    internal ReadOnlySpan<int> Warp(ReadOnlySpan<float> logits, out float max)
    {
        var n = logits.Length;
        EnsureCapacity(n);
        var scores = _scores.AsSpan(0, n);

        // HF TemperatureLogitsWarper: scores / temperature (float32).
        for (var i = 0; i < n; i++)
        {
            var s = logits[i];
            scores[i] = float.IsNaN(s) ? float.NegativeInfinity : (_temperature == 1f ? s : s / _temperature);
        }

        // HF TopKLogitsWarper: remove every score strictly below the k-th largest, so ties with it all stay.
        if (_topK > 0 && _topK < n)
        {
            var scratch = _scratch.AsSpan(0, n);
            scores.CopyTo(scratch);
            var kth = KthLargest(scratch, _topK - 1);
            for (var i = 0; i < n; i++)
            {
                if (scores[i] < kth)
                    scores[i] = float.NegativeInfinity;
            }
        }

        var count = 0;
        max = float.NegativeInfinity;
        for (var i = 0; i < n; i++)
        {
            if (scores[i] > float.NegativeInfinity)
            {
                _candidates[count++] = i;
                if (scores[i] > max)
                    max = scores[i];
            }
        }
        if (count == 0 || float.IsPositiveInfinity(max))
            return _candidates.AsSpan(0, count);

        var weights = _weights.AsSpan(0, n);
        foreach (var id in _candidates.AsSpan(0, count))
            weights[id] = Math.Exp(scores[id] - max);
        return _topP >= 1.0 ? _candidates.AsSpan(0, count) : TopP(scores, weights, _candidates.AsSpan(0, count));
    }

    // HF TopPLogitsWarper sorts ascending, takes the cumulative softmax and removes the tokens whose cumulative
    // probability is <= 1 - top_p, always keeping the most probable one. Equivalently, walking from the most
    // probable token down, a token is removed once the mass of the tokens above it reaches top_p. Walking a heap
    // gives that without sorting the whole row. Ties are ordered by token id, lower id first (more probable), as
    // with argmax.
    private ReadOnlySpan<int> TopP(ReadOnlySpan<float> scores, ReadOnlySpan<double> weights, Span<int> heap)
    {
        double total = 0;
        foreach (var id in heap)
            total += weights[id];
        var threshold = _topP * total;

        var size = heap.Length;
        for (var i = size / 2 - 1; i >= 0; i--)
            SiftDown(scores, heap, i, size);

        var kept = 0;
        double above = 0;
        while (size > 0)
        {
            var top = heap[0];
            if (kept > 0 && above >= threshold)
                break;
            _kept[kept++] = top;
            above += weights[top];
            heap[0] = heap[--size];
            SiftDown(scores, heap, 0, size);
        }
        return _kept.AsSpan(0, kept);
    }

    private static bool Before(ReadOnlySpan<float> scores, int a, int b) =>
        scores[a] > scores[b] || (scores[a] == scores[b] && a < b);

    private static void SiftDown(ReadOnlySpan<float> scores, Span<int> heap, int i, int size)
    {
        while (true)
        {
            var left = 2 * i + 1;
            if (left >= size)
                return;
            var best = left;
            if (left + 1 < size && Before(scores, heap[left + 1], heap[left]))
                best = left + 1;
            if (!Before(scores, heap[best], heap[i]))
                return;
            (heap[i], heap[best]) = (heap[best], heap[i]);
            i = best;
        }
    }

    /// <summary>The value of rank <paramref name="k"/> (0 = largest) in descending order; reorders <paramref name="values"/>. Expects no NaN.</summary>
    internal static float KthLargest(Span<float> values, int k)
    {
        int lo = 0, hi = values.Length - 1;
        while (lo < hi)
        {
            float a = values[lo], b = values[lo + (hi - lo) / 2], c = values[hi];
            var pivot = Math.Max(Math.Min(a, b), Math.Min(Math.Max(a, b), c)); // median of three
            int i = lo, j = hi;
            while (i <= j)
            {
                while (values[i] > pivot) i++;
                while (values[j] < pivot) j--;
                if (i <= j)
                {
                    (values[i], values[j]) = (values[j], values[i]);
                    i++;
                    j--;
                }
            }
            // Now values[lo..j] >= pivot, values[i..hi] <= pivot and anything strictly between equals the pivot.
            if (k <= j) hi = j;
            else if (k >= i) lo = i;
            else return values[k];
        }
        return values[k];
    }

    private void EnsureCapacity(int n)
    {
        if (_scores.Length >= n)
            return;
        _scores = new float[n];
        _scratch = new float[n];
        _candidates = new int[n];
        _kept = new int[n];
        _weights = new double[n];
    }
}
