namespace Serverless.Inference.Generation;

/// <summary>The completion of one prompt.</summary>
/// <param name="Text">The decoded completion without special tokens, cut before a stop string.</param>
/// <param name="OutputIds">The generated ids without the decoder start token, ending with <c>&lt;/s&gt;</c> if it was produced.</param>
/// <param name="FinishReason">Why generation ended.</param>
/// <param name="InputTokens">Tokens given to the encoder (after truncation), <c>&lt;/s&gt;</c> included.</param>
/// <param name="OutputTokens">Tokens generated: the length of <paramref name="OutputIds"/> (<c>&lt;/s&gt;</c> included when produced).</param>
/// <param name="ContextWindow">The model's context window in tokens, the most <paramref name="InputTokens"/> can be.</param>
/// <param name="TokensTruncated">Prompt tokens dropped to fit the context window.</param>
/// <param name="Timings">Where the completion's time went.</param>
public sealed record GenerationResult(
    string Text,
    IReadOnlyList<int> OutputIds,
    FinishReason FinishReason,
    int InputTokens,
    int OutputTokens,
    int ContextWindow,
    int TokensTruncated,
    GenerationTimings Timings)
{
    /// <summary>Each generated token's log-probabilities, in order (one per <see cref="OutputIds"/> entry), when the row
    /// asked for them (<see cref="TokenObserver.TopLogProbs"/>); null otherwise.</summary>
    public IReadOnlyList<StepLogProbs>? LogProbs { get; init; }

    /// <summary>Generated tokens per second of generation (first decoder step to last).</summary>
    public double TokensPerSecond => Timings.Decode > TimeSpan.Zero ? OutputTokens / Timings.Decode.TotalSeconds : 0;
}

/// <summary>Where the time of one completion went.</summary>
/// <param name="Tokenize">Tokenizing this prompt.</param>
/// <param name="Encode">Running the encoder over the prompt's batch.</param>
/// <param name="FirstToken">From the start of the call to the first generated token.</param>
/// <param name="Total">From the start of the call to the completion's last token.</param>
/// <param name="Decode">From the first decoder step to the completion's last token.</param>
/// <param name="InsideRun">Time of the prompt's batch spent inside ONNX Runtime's Run (encoder and decoder).</param>
public sealed record GenerationTimings(TimeSpan Tokenize, TimeSpan Encode, TimeSpan FirstToken, TimeSpan Total,
    TimeSpan Decode = default, TimeSpan InsideRun = default);

/// <summary>Why the generation of a completion ended.</summary>
public enum FinishReason
{
    /// <summary>The model produced end-of-sequence (<c>&lt;/s&gt;</c>); the best beam ended with it, in beam search.</summary>
    Eos,
    /// <summary>max_new_tokens tokens were generated.</summary>
    Length,
    /// <summary>A stop string was generated; the text is cut before it.</summary>
    Stop,
    /// <summary>The call was cancelled; the result holds what was generated until then.</summary>
    Cancelled,
}
