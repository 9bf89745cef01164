namespace Serverless.Inference.Generation;

/// <summary>The completion of one prompt.</summary>
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
    /// <summary>Generated tokens per second of generation (first decoder step to last).</summary>
    public double TokensPerSecond => throw new NotImplementedException();
}

public sealed record GenerationTimings(TimeSpan Tokenize, TimeSpan Encode, TimeSpan FirstToken, TimeSpan Total);

public enum FinishReason { Eos, Length, Stop, Cancelled }
