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
    IReadOnlyList<PromptResult>? Results)
{
    public static JobStatusResponse From(JobRecord r, JobOutput? output) => new(
        r.Id, r.Status, r.CreatedAt, r.StartedAt, r.CompletedAt, r.Attempts, r.PromptCount, r.Error,
        r.IsTerminal ? null : r.LastError, r.Usage, output?.Results);
}

/// <summary>The body of <c>GET /api/health</c>.</summary>
internal sealed record HealthResponse(string Status, string? Reason, bool StorageReachable, HealthModel Model, HealthQueues? Queues);

/// <summary>Whether this instance holds the model in memory, and which version (its fingerprint).</summary>
internal sealed record HealthModel(bool Loaded, string? Version);

/// <summary>Approximate lengths of the job queue and its poison queue.</summary>
internal sealed record HealthQueues(string Name, int Length, string PoisonName, int PoisonLength);
