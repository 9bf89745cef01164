namespace Serverless.Inference.Generation.Processing;

/// <summary>
/// Log-probabilities of one row of processed scores, read in place (the row is the decoder's own logits slice: nothing
/// is copied): one pass for the maximum, one for the sum of exp(score - max) in double, one for the top k.
/// </summary>
/// <remarks>NaN scores count as negative infinity, as <see cref="TokenSampler"/> counts them. A row whose every score
/// is negative infinity has no distribution: every log-probability is then negative infinity.</remarks>
internal static class LogSoftmax
{
    /// <param name="scores">The row's processed scores.</param>
    /// <param name="chosen">The token the step chose.</param>
    /// <param name="top">How many of the most likely tokens to list (0 or more).</param>
    public static StepLogProbs Of(ReadOnlySpan<float> scores, int chosen, int top)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(top);
        var normalizer = LogSumExp(scores);
        var count = Math.Min(top, scores.Length);
        var ids = new int[count];
        var values = new float[count];
        var filled = count == 0 ? 0 : BeamSearch.TopK(scores, values, ids); // most likely first, ties: lower id first
        var list = new TokenLogProb[filled];
        for (var k = 0; k < filled; k++)
            list[k] = new TokenLogProb(ids[k], LogProb(values[k], normalizer));
        return new StepLogProbs(new TokenLogProb(chosen, LogProb(Clean(scores[chosen]), normalizer)), list);
    }

    /// <summary>log(sum(exp(scores))), stable: max + log(sum(exp(score - max))). Negative infinity when every score is;
    /// positive infinity when any is.</summary>
    internal static double LogSumExp(ReadOnlySpan<float> scores)
    {
        var max = float.NegativeInfinity;
        foreach (var s in scores)
        {
            if (s > max)
                max = s;
        }
        if (float.IsInfinity(max))
            return max;
        double sum = 0;
        foreach (var s in scores)
        {
            if (s > float.NegativeInfinity) // NaN and -inf add nothing
                sum += Math.Exp((double)s - max);
        }
        return max + Math.Log(sum);
    }

    private static float Clean(float score) => float.IsNaN(score) ? float.NegativeInfinity : score;

    private static float LogProb(float score, double normalizer)
    {
        if (double.IsPositiveInfinity(normalizer))
            return float.IsPositiveInfinity(score) ? 0f : float.NegativeInfinity; // degenerate: +inf takes all the mass
        if (double.IsNegativeInfinity(normalizer) || float.IsNegativeInfinity(score))
            return float.NegativeInfinity;
        return (float)Math.Min(0, score - normalizer);
    }
}
