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
