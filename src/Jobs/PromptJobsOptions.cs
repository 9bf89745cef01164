namespace Serverless.Jobs;

/// <summary>
/// Settings of the job pipeline. <see cref="JobsServiceCollectionExtensions.AddPromptJobs"/> binds them once, at start,
/// from the app settings named in the comments (<see cref="PromptJobsSettings"/>: flat Functions-style names, the limits
/// under <c>Jobs__*</c>); a malformed one stops the host naming it. Durations are <see cref="TimeSpan"/>s; each app
/// setting of a duration names its one unit (<c>…Ms</c>/<c>…Milliseconds</c>, <c>…Seconds</c>).
/// </summary>
public sealed class PromptJobsOptions
{
    /// <summary>The connection setting of the job queue and store: a connection string, or
    /// <c>AzureWebJobsStorage__blobServiceUri</c> / <c>__queueServiceUri</c> with a token credential.</summary>
    /// <remarks>Not configurable: the queue triggers name it in their attributes (a compile-time constant the host reads
    /// from functions.metadata), and the submit must enqueue where they listen.</remarks>
    public const string ConnectionName = "AzureWebJobsStorage";

    /// <summary>Always <see cref="ConnectionName"/>.</summary>
    public string Connection => ConnectionName;

    /// <summary><c>PromptJobsQueue</c>. The poison queue is this name plus <c>-poison</c>.</summary>
    public string QueueName { get; set; } = "prompt-jobs";

    /// <summary><c>JobsContainer</c>: status records <c>{id}.json</c>.</summary>
    public string JobsContainer { get; set; } = "jobs";

    /// <summary><c>CompletionsContainer</c>: outputs <c>{id}.json</c>, written once.</summary>
    public string CompletionsContainer { get; set; } = "completions";

    /// <summary><c>Jobs__MaxPromptsPerJob</c>.</summary>
    public int MaxPromptsPerJob { get; set; } = 64;

    /// <summary><c>Jobs__MaxRequestBodyBytes</c>: larger bodies get 413.</summary>
    public int MaxRequestBodyBytes { get; set; } = 256 * 1024;

    /// <summary><c>Jobs__BatchSize</c>: prompts per engine call.</summary>
    public int BatchSize { get; set; } = 8;

    /// <summary><c>Jobs__DynamicBatching</c>: the prompts of concurrent invocations share decode batches (up to
    /// <c>Inference__MaxBatchRows</c> rows); false decodes each message on its own, <see cref="BatchSize"/> prompts per call.</summary>
    public bool DynamicBatching { get; set; } = true;

    /// <summary><c>Jobs__BatchWindowMs</c> (milliseconds): how long the oldest waiting prompt waits for others before its
    /// batch starts (a full batch starts at once); 0 starts at once.</summary>
    public TimeSpan BatchWindow { get; set; } = TimeSpan.FromMilliseconds(5);

    /// <summary><c>Jobs__RetryAfterSeconds</c>: the polling hint on 202 and on unfinished jobs, in the whole seconds of the
    /// <c>Retry-After</c> header it fills.</summary>
    public int RetryAfterSeconds { get; set; } = 2;

    /// <summary><c>Jobs__SubmitTokenizerWaitSeconds</c>: how long a submit waits for the model (its tokenizer) to load
    /// for the context-window check before accepting the job unchecked; the load carries on in the background.</summary>
    public TimeSpan SubmitTokenizerWait { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary><c>Jobs__ModelRetryAfterSeconds</c>: after a failed model load, submits skip the token check (rather
    /// than retrying the load on every request) for this long.</summary>
    public TimeSpan ModelRetryAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary><c>Jobs__MaxInlineMessageBytes</c>: job specs larger than this are kept in <c>jobs/_inputs/{id}.json</c>
    /// and the queue message only carries the id (a queue message holds at most 64 KiB).</summary>
    public int MaxInlineMessageBytes { get; set; } = 32 * 1024;

    /// <summary><c>Callbacks__*</c>: the signed POST of a finished job to its <c>callback_url</c>.</summary>
    public Callbacks.CallbackOptions Callbacks { get; } = new();

    /// <summary><c>Jobs__CancelPollMilliseconds</c>: how often an instance checks the records of the jobs it runs for a
    /// cancel request (a HEAD per job, at most 8 a second per instance, round robin: see JobCancellationWatcher).</summary>
    public TimeSpan CancelPollInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary><c>Jobs__ProgressIntervalMilliseconds</c>: least time between two progress writes of a running job.</summary>
    public TimeSpan ProgressInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary><c>Inference__MaxNewTokensCeiling</c>.</summary>
    public int MaxNewTokensCeiling { get; set; } = 512;

    /// <summary>How long an HTTP request may spend in all (storage calls, the tokenizer wait) before it answers 503 +
    /// Retry-After: far below the 230 s after which Azure's front end cuts a response.</summary>
    public TimeSpan HttpTimeBudget { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Network timeout of one storage try on the HTTP path (the worker's clients keep the model store's longer one).</summary>
    public TimeSpan HttpStorageCallTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary><c>Completions__*</c>: limits of the synchronous <c>POST /api/completions</c>.</summary>
    public Completions.CompletionsOptions Completions { get; set; } = new();

    /// <summary><c>Telemetry__*</c>: whether prompt and completion text may enter spans and logs.</summary>
    public Telemetry.TelemetryOptions Telemetry { get; set; } = new();

    internal string PoisonQueueName => QueueName + "-poison";
}
