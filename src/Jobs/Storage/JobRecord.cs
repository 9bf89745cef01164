using System.Text.Json.Serialization;

namespace Serverless.Jobs.Storage;

/// <summary>Where a job is. Ordered: a record only ever moves to a later state, and the terminal ones never change.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<JobStatus>))]
internal enum JobStatus
{
    [JsonStringEnumMemberName("queued")] Queued = 0,
    [JsonStringEnumMemberName("running")] Running = 1,
    [JsonStringEnumMemberName("succeeded")] Succeeded = 2,
    [JsonStringEnumMemberName("failed")] Failed = 3,
}

/// <summary>Why a job failed (or, as <c>last_error</c>, why its last attempt failed): a stable code and a sentence.</summary>
internal sealed record JobError(string Code, string Message)
{
    /// <summary>The attempt (1-based) that hit this error, for <c>last_error</c>.</summary>
    public int? Attempt { get; init; }
    public DateTimeOffset? At { get; init; }
}

/// <summary>Totals over a finished job's prompts, kept on the record so a status poll needs no second read.</summary>
internal sealed record JobUsage(int InputTokens, int OutputTokens, double TokensPerSecond, double DurationMs);

/// <summary>The status record <c>jobs/{id}.json</c>, updated only with ETag conditions (see <see cref="JobStore"/>).</summary>
internal sealed record JobRecord
{
    public required string Id { get; init; }
    public required JobStatus Status { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? CompletedAt { get; init; }
    /// <summary>Worker attempts so far (each delivery of the message that started work counts once).</summary>
    public int Attempts { get; init; }
    public int PromptCount { get; init; }
    /// <summary><c>http</c> (submitted through the API) or <c>queue</c> (a message dropped into the queue by hand).</summary>
    public required string Source { get; init; }
    /// <summary>The failure of a <c>failed</c> job.</summary>
    public JobError? Error { get; init; }
    /// <summary>The most recent transient failure; the poison handler reports it when retries run out.</summary>
    public JobError? LastError { get; init; }
    public JobUsage? Usage { get; init; }

    [JsonIgnore] public bool IsTerminal => Status is JobStatus.Succeeded or JobStatus.Failed;
}
