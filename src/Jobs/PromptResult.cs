using Serverless.Inference.Generation;

namespace Serverless.Jobs;

/// <summary>The completion of one prompt with its token counts and timings (milliseconds): a job's result, and the final
/// object of <c>POST /api/completions</c> (the same fields in both).</summary>
internal sealed record PromptResult(
    int Index,
    string GeneratedText,
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
    /// <summary>The same text as <see cref="GeneratedText"/> (Hugging Face's name), under this API's first name: the CLI
    /// (<c>jobs wait</c> output) and the test suites read it. Also how an output written before <c>generated_text</c>
    /// existed is read back.</summary>
    public string Completion
    {
        get => GeneratedText;
        init => GeneratedText ??= value;
    }

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
