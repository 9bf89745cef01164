using Serverless.Jobs.Storage;

namespace Serverless.Jobs.Http;

/// <summary>The 202 body of <c>POST /api/jobs</c>.</summary>
internal sealed record SubmitResponse(string Id, JobStatus Status, DateTimeOffset CreatedAt, string StatusUrl, int PromptCount);

/// <summary>The 200 body of <c>GET /api/jobs/{id}</c>: the record, plus the results (in prompt order) once succeeded.</summary>
internal sealed record JobStatusResponse(
    string Id,
    JobStatus Status,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? CompletedAt,
    int Attempts,
    int PromptCount,
    JobError? Error,
    JobError? LastError,
    JobUsage? Usage,
    JobProgress? Progress,
    Models.JobModelInfo? Model,
    Serverless.Inference.Generation.GenerationOptions? Parameters,
    string? CallbackUrl,
    Callbacks.CallbackDelivery? Callback,
    IReadOnlyList<PromptResult>? Results)
{
    public static JobStatusResponse From(JobRecord r, JobOutput? output) => new(
        r.Id, r.Status, r.CreatedAt, r.StartedAt, r.CompletedAt, r.Attempts, r.PromptCount, r.Error,
        r.IsTerminal ? null : r.LastError, r.Usage, r.Progress, output?.Model, output?.Parameters, r.CallbackUrl, r.Callback, output?.Results);
}

/// <summary>One job in the 200 body of <c>GET /api/jobs</c>.</summary>
internal sealed record JobListItem(string Id, JobStatus Status, DateTimeOffset CreatedAt, DateTimeOffset? CompletedAt, int PromptCount)
{
    public static JobListItem From(JobIndexEntry e) => new(e.Id, e.Status, e.CreatedAt, e.CompletedAt, e.PromptCount);
}

/// <summary>The 200 body of <c>GET /api/jobs</c>: newest first; <c>continuation</c> (absent on the last page) asks for the next page.</summary>
internal sealed record JobListResponse(IReadOnlyList<JobListItem> Jobs, string? Continuation);

/// <summary>The body of <c>GET /api/health</c>.</summary>
internal sealed record HealthResponse(string Status, string? Reason, bool StorageReachable, HealthModel Model, HealthQueues? Queues);

/// <summary>Whether this instance holds the model in memory, and which version (its fingerprint).</summary>
internal sealed record HealthModel(bool Loaded, string? Version, string? Error = null);

/// <summary>Approximate lengths of the job queue and its poison queue.</summary>
internal sealed record HealthQueues(string Name, int Length, string PoisonName, int PoisonLength);
