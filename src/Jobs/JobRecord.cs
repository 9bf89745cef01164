using System.Text.Json.Serialization;

namespace Serverless.Jobs;

/// <summary>
/// A job's lifecycle, stored as <c>jobs/{id}.json</c>. The record owns its transitions: <see cref="Created"/> (queued),
/// <see cref="Started"/> (attempt n), <see cref="AttemptFailed"/> (<c>last_error</c>), <see cref="Succeed"/>,
/// <see cref="Fail"/>, <see cref="Cancel"/>. A record never moves to an earlier <see cref="JobStatus"/> and a terminal
/// one never changes: a transition of a terminal record returns null ("no change"), and the store
/// (<see cref="Storage.JobStore.UpdateAsync"/>) refuses any write <see cref="CanBecome"/> rejects.
/// </summary>
/// <remarks>The setters are private so that no caller builds a state with <c>with { Status = … }</c>; the JSON
/// serializer sets them through <see cref="JsonIncludeAttribute"/>. The field names are the wire format.</remarks>
internal sealed record JobRecord
{
    /// <summary><see cref="Source"/> of a job submitted through the API.</summary>
    public const string FromHttp = "http";
    /// <summary><see cref="Source"/> of a message dropped into the queue by hand.</summary>
    public const string FromQueue = "queue";

    [JsonConstructor]
    private JobRecord() { }

    [JsonInclude] public string Id { get; private init; } = "";
    [JsonInclude] public JobStatus Status { get; private init; }
    [JsonInclude] public DateTimeOffset CreatedAt { get; private init; }
    [JsonInclude] public DateTimeOffset? StartedAt { get; private init; }
    [JsonInclude] public DateTimeOffset? CompletedAt { get; private init; }
    /// <summary>Worker attempts so far (each delivery of the message that started work counts once).</summary>
    [JsonInclude] public int Attempts { get; private init; }
    [JsonInclude] public int PromptCount { get; private init; }
    /// <summary><see cref="FromHttp"/> or <see cref="FromQueue"/>.</summary>
    [JsonInclude] public string Source { get; private init; } = "";
    /// <summary>The failure of a <c>failed</c> job (or the reason of a <c>cancelled</c> one).</summary>
    [JsonInclude] public JobError? Error { get; private init; }
    /// <summary>The most recent transient failure; the poison handler reports it when retries run out.</summary>
    [JsonInclude] public JobError? LastError { get; private init; }
    [JsonInclude] public JobUsage? Usage { get; private init; }
    /// <summary>While running (and kept after): prompts finished of the total and tokens generated so far.</summary>
    [JsonInclude] public JobProgress? Progress { get; private init; }
    /// <summary>For a job submitted with an <c>Idempotency-Key</c>: SHA-256 (hex) of the request body, so that a retry with the
    /// same key and body returns this job and one with another body is refused.</summary>
    [JsonInclude] public string? RequestHash { get; private init; }
    /// <summary>A random value of the call that created the record. A create whose first try reached storage but whose
    /// answer was lost (a try timed out under load) is retried by the storage client and answered "already exists": this
    /// is how it knows the record is its own and not another request's (<see cref="Storage.JobStore.CreateAsync"/>).</summary>
    [JsonInclude] public string? CreationId { get; private init; }
    /// <summary>Where the job's final status is posted when it ends (<see cref="Callbacks.JobCallbacks"/>).</summary>
    [JsonInclude] public string? CallbackUrl { get; private init; }
    /// <summary>How that post went, once tried: the only change a finished record takes.</summary>
    [JsonInclude] public Callbacks.CallbackDelivery? Callback { get; private init; }
    // Failover (issue 25): who holds the running attempt, and what earlier attempts left for this one.
    /// <summary>The instance running (or holding) the current attempt; see <see cref="Failover.JobLease"/>.</summary>
    [JsonInclude] public Failover.JobLease? Lease { get; private init; }
    /// <summary>Per attempt that got as far as generating: prompts taken from the checkpoint and prompts decoded.</summary>
    [JsonInclude] public IReadOnlyList<Failover.AttemptRecord>? AttemptLog { get; private init; }

    [JsonIgnore] public bool IsTerminal => IsTerminalStatus(Status);

    /// <summary>Succeeded, failed or cancelled: a record in one of these never changes status again.</summary>
    public static bool IsTerminalStatus(JobStatus status) => status is JobStatus.Succeeded or JobStatus.Failed or JobStatus.Cancelled;

    /// <summary>A new job, queued.</summary>
    public static JobRecord Created(string id, DateTimeOffset at, string source, int promptCount = 0, string? requestHash = null, string? callbackUrl = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ArgumentException.ThrowIfNullOrEmpty(source);
        ArgumentOutOfRangeException.ThrowIfNegative(promptCount);
        return new JobRecord
        {
            Id = id,
            Status = JobStatus.Queued,
            CreatedAt = at,
            Source = source,
            PromptCount = promptCount,
            RequestHash = requestHash,
            CreationId = Guid.NewGuid().ToString("N"),
            CallbackUrl = callbackUrl,
        };
    }

    /// <summary>Whether a stored record may be replaced by <paramref name="next"/>: same job, not terminal, not backwards;
    /// a terminal one only by itself with its callback outcome recorded (<see cref="CallbackDone"/>).</summary>
    public bool CanBecome(JobRecord next) =>
        next.Id == Id && (IsTerminal
            ? Callback is null && next.Callback is not null && next == this with { Callback = next.Callback }
            : next.Status >= Status || IsRelease(next));

    // Failover (issue 25): the one step back a record takes: running → queued when its owner died (see Released).
    private bool IsRelease(JobRecord next) => Status == JobStatus.Running && next.Status == JobStatus.Queued && Lease is not null && next.Lease is null;

    /// <summary>The outcome of the callback of a finished job, recorded once. Null (no change) unless terminal without one.</summary>
    public JobRecord? CallbackDone(Callbacks.CallbackDelivery outcome) => IsTerminal && Callback is null ? this with { Callback = outcome } : null;

    /// <summary>An attempt started: running, one more attempt, the first start time kept. Null once terminal.</summary>
    public JobRecord? Started(DateTimeOffset at, int promptCount, Failover.JobLease? lease = null) => IsTerminal ? null : this with
    {
        Status = JobStatus.Running,
        StartedAt = StartedAt ?? at,
        Attempts = Attempts + 1,
        PromptCount = promptCount,
        Lease = lease,
    };

    /// <summary>Handed back: the owner of the running attempt is dead (or shutting down): queued again, nobody's, the
    /// attempt named in <c>last_error</c>. Null unless running under a lease.</summary>
    public JobRecord? Released(DateTimeOffset at, JobError reason) => Status == JobStatus.Running && Lease is not null
        ? this with { Status = JobStatus.Queued, Lease = null, LastError = reason with { Attempt = Attempts, At = at } }
        : null;

    /// <summary>Notes what an attempt generated (for resumed jobs: only the prompts the checkpoint lacked). Null once terminal.</summary>
    public JobRecord? Logged(Failover.AttemptRecord attempt) =>
        IsTerminal ? null : this with { AttemptLog = [.. (AttemptLog ?? []).Where(a => a.Attempt != attempt.Attempt), attempt] };

    /// <summary>The current attempt failed and will be retried: <c>last_error</c> names it. Null once terminal.</summary>
    public JobRecord? AttemptFailed(int attempt, JobError error, DateTimeOffset at) =>
        IsTerminal ? null : this with { LastError = error with { Attempt = attempt, At = at } };

    /// <summary>Progress of the running attempt. Null (no change) unless running.</summary>
    public JobRecord? Progressed(JobProgress progress) => Status == JobStatus.Running ? this with { Progress = progress } : null;

    /// <summary>Finished with its output written. Null once terminal.</summary>
    public JobRecord? Succeed(DateTimeOffset at, JobUsage usage) =>
        IsTerminal ? null : this with
        {
            Status = JobStatus.Succeeded,
            CompletedAt = at,
            Usage = usage,
            Progress = new JobProgress(PromptCount, PromptCount, usage.OutputTokens),
        };

    /// <summary>Failed for good. Null once terminal.</summary>
    public JobRecord? Fail(DateTimeOffset at, JobError error) =>
        IsTerminal ? null : this with { Status = JobStatus.Failed, CompletedAt = at, Error = error };

    /// <summary>Cancelled before it finished; <paramref name="reason"/> is reported as its error. Null once terminal.</summary>
    public JobRecord? Cancel(DateTimeOffset at, JobError? reason = null) =>
        IsTerminal ? null : this with { Status = JobStatus.Cancelled, CompletedAt = at, Error = reason };
}
