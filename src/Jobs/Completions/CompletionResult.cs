using Serverless.Inference.Generation;

namespace Serverless.Jobs.Completions;

/// <summary>The final object of one prompt: the last server-sent event of its stream, or the JSON answer.</summary>
internal sealed record CompletionResult(
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
    /// <param name="overBudget">The request's time budget (not the client) stopped it.</param>
    public static CompletionResult From(int index, GenerationResult r, bool overBudget)
    {
        var p = PromptResult.From(index, r);
        var reason = r.FinishReason == Inference.Generation.FinishReason.Cancelled && overBudget ? "time_budget" : p.FinishReason;
        return new(index, p.Completion, reason, p.InputTokens, p.OutputTokens, p.ContextWindow, p.TokensTruncated,
            p.TokenizeMs, p.EncodeMs, p.FirstTokenMs, p.TotalMs, p.TokensPerSecond);
    }
}

/// <summary>One server-sent token event: <c>{"token": {"id", "text"}, "index"}</c> (index = the prompt's).</summary>
internal sealed record TokenEvent(TokenPayload Token, int Index);

internal sealed record TokenPayload(int Id, string Text);
