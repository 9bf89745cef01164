namespace Serverless.Jobs.Completions;

/// <summary>Limits of the synchronous <c>POST /api/completions</c> (settings <c>Completions__*</c>): small on purpose,
/// so a request answers well within the 230 s after which Azure's front end cuts an HTTP response; long work is a job.</summary>
public sealed class CompletionsOptions
{
    /// <summary><c>Completions__MaxPrompts</c>: prompts per request.</summary>
    public int MaxPrompts { get; set; } = 4;

    /// <summary><c>Completions__MaxNewTokens</c>: the largest effective <c>max_new_tokens</c> (the request's or the model's default).</summary>
    public int MaxNewTokens { get; set; } = 256;

    /// <summary><c>Completions__MaxRequestBodyBytes</c>: larger bodies get 413.</summary>
    public int MaxRequestBodyBytes { get; set; } = 64 * 1024;

    /// <summary><c>Completions__MaxConcurrent</c>: completions generating at once on this instance (<c>/api/completions</c>
    /// and the OpenAI-compatible routes together, each a row of the instance's decode loop). A request that arrives when
    /// this many are generating is refused with 429 and <c>Retry-After</c>: beyond it a completion would wait for rows
    /// already waiting, and its time budget would run out waiting.</summary>
    public int MaxConcurrent { get; set; } = 64;

    /// <summary><c>Completions__TimeBudgetSeconds</c>: the whole request (model load included) stops generating after
    /// this long and ends with <c>finish_reason: "time_budget"</c>.</summary>
    public TimeSpan TimeBudget { get; set; } = TimeSpan.FromSeconds(120);
}
