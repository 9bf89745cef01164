namespace Serverless.Inference.Generation;

/// <summary>
/// Sees the scores a greedy or sampling step chooses from, after the logits processors (parity tests). Called on the
/// decoding thread.
/// </summary>
internal interface IScoreObserver
{
    /// <param name="row">The prompt's index in the call.</param>
    /// <param name="step">The decoder step, 0 for the first generated token.</param>
    /// <param name="scores">The row's processed scores, one per logits row; valid only during the call.</param>
    void OnScores(int row, int step, ReadOnlySpan<float> scores);
}
