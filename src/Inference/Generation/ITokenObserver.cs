namespace Serverless.Inference.Generation;

/// <summary>Sees every token as it is generated (streaming). Called on the decoding thread.</summary>
internal interface ITokenObserver
{
    /// <param name="row">The prompt's index in the call.</param>
    /// <param name="generated">All tokens generated so far for that prompt, the new one last.</param>
    void OnToken(int row, ReadOnlySpan<int> generated);

    /// <summary>As <see cref="OnToken(int, ReadOnlySpan{int})"/>, with the step's log-probabilities when the row asked
    /// for them (<see cref="BatchPrompt.TopLogProbs"/>).</summary>
    void OnToken(int row, ReadOnlySpan<int> generated, StepLogProbs? logProbs) => OnToken(row, generated);
}
