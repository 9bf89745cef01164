namespace Serverless.Inference.Generation;

/// <summary>One generated token as streamed: its id and the text it completes.</summary>
/// <param name="Id">The token id.</param>
/// <param name="Text">The text this token adds to the completion: whole characters only (a character spread over several
/// byte-fallback tokens arrives with its last token, the others carry ""), and nothing past a stop string. The texts of a
/// completion's tokens concatenate to <see cref="GenerationResult.Text"/>.</param>
public readonly record struct StreamedToken(int Id, string Text)
{
    /// <summary>The step's log-probabilities when the stream asked for them (<see cref="TokenObserver.TopLogProbs"/>); null otherwise.</summary>
    public StepLogProbs? LogProbs { get; init; }
}
