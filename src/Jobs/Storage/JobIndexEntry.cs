namespace Serverless.Jobs.Storage;

/// <summary>One job as the time index <c>jobs/_by-time/{inverted ticks}-{id}</c> holds it, in the index blob's metadata:
/// what <c>GET /api/jobs</c> lists without reading the record.</summary>
internal sealed record JobIndexEntry(string Id, JobStatus Status, DateTimeOffset CreatedAt, DateTimeOffset? CompletedAt, int PromptCount);
