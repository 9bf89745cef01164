using Serverless.Inference.Generation;

namespace Serverless.Jobs;

/// <summary>The output <c>completions/{id}.json</c>: one result per prompt, in prompt order, with the model every result
/// ran on and the effective generation parameters (the job's over the model's <c>generation_config.json</c> defaults,
/// the rest Hugging Face's). Written once.</summary>
internal sealed record JobOutput(string Id, DateTimeOffset CreatedAt, IReadOnlyList<PromptResult> Results)
{
    public Models.JobModelInfo? Model { get; init; }
    public GenerationOptions? Parameters { get; init; }
}

/// <summary>The completion of one prompt with its token counts and timings (milliseconds).</summary>
internal sealed record PromptResult(
    int Index,
    string Completion,
    string FinishReason,
    int InputTokens,
    int OutputTokens,
    int ContextWindow,
    int TokensTruncated,
    double TokenizeMs,
    double EncodeMs,
    double FirstTokenMs,
    double TotalMs,
    double TokensPerSecond)
{
    /// <summary>Hugging Face's name for <see cref="Completion"/> (the same text). <c>completion</c> stays: the CLI
    /// (<c>jobs wait</c>/<c>complete</c> output) and the test suites read it.</summary>
    public string GeneratedText => Completion;

    /// <summary>How long the prompt waited for a shared decode batch (absent when dynamic batching is off).</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public double? QueueWaitMs { get; init; }

    public static PromptResult From(int index, GenerationResult r) => new(
        index,
        r.Text,
        r.FinishReason switch
        {
            Inference.Generation.FinishReason.Eos => "eos",
            Inference.Generation.FinishReason.Length => "length",
            Inference.Generation.FinishReason.Stop => "stop",
            Inference.Generation.FinishReason.Cancelled => "cancelled",
            _ => r.FinishReason.ToString().ToLowerInvariant(),
        },
        r.InputTokens,
        r.OutputTokens,
        r.ContextWindow,
        r.TokensTruncated,
        Math.Round(r.Timings.Tokenize.TotalMilliseconds, 3),
        Math.Round(r.Timings.Encode.TotalMilliseconds, 3),
        Math.Round(r.Timings.FirstToken.TotalMilliseconds, 3),
        Math.Round(r.Timings.Total.TotalMilliseconds, 3),
        Math.Round(r.TokensPerSecond, 2));
}
