namespace Serverless.Inference.Generation;

/// <summary>How to generate: the parameter names and meanings of Hugging Face <c>generate</c>.</summary>
public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 64;
    public int MinNewTokens { get; init; }
    public bool DoSample { get; init; }
    public double Temperature { get; init; } = 1.0;
    public int TopK { get; init; } = 50;
    public double TopP { get; init; } = 1.0;
    public ulong? Seed { get; init; }
    public int NumBeams { get; init; } = 1;
    public double LengthPenalty { get; init; } = 1.0;
    public bool EarlyStopping { get; init; }
    public double RepetitionPenalty { get; init; } = 1.0;
    public int NoRepeatNgramSize { get; init; }
    public IReadOnlyList<string> StopStrings { get; init; } = [];
    public Truncation Truncation { get; init; } = Truncation.None;

    /// <summary>Every out-of-range parameter, each naming the parameter (snake_case, as in HF) and its allowed range.</summary>
    public IReadOnlyList<OptionError> Validate(int maxNewTokensCeiling) => throw new NotImplementedException();
}

/// <summary>One invalid generation parameter: its HF name and what is allowed.</summary>
public sealed record OptionError(string Parameter, string Message);

/// <summary>What to do with a prompt longer than the model's context window.</summary>
public enum Truncation
{
    /// <summary>Reject the prompt with <see cref="PromptTooLongException"/>.</summary>
    None,
    /// <summary>Keep the first tokens (and the final <c>&lt;/s&gt;</c>).</summary>
    KeepStart,
    /// <summary>Keep the last tokens.</summary>
    KeepEnd,
}
