namespace Serverless.Jobs.Failover;

/// <summary>
/// Who holds a job: written on the record by the attempt's <see cref="JobRecord.Started"/> write (no extra request), before
/// any generation, so fetched-but-unstarted jobs are held too. The lease lasts as long as <see cref="Owner"/>'s heartbeat
/// (<see cref="InstanceHeartbeat"/>): no per-job renewals. A sweep hands a dead owner's job back
/// (<see cref="JobRecord.Released"/>) under the record's ETag, so only one instance ever holds it.
/// </summary>
/// <param name="Owner">The instance id (<see cref="FailoverOptions.InstanceId"/>).</param>
/// <param name="Message">The queue message to send again if the owner dies: the original text with the job id in it
/// (null when the spec is in <c>jobs/_inputs/{id}.json</c>: then <c>{"id", "input": "blob"}</c> is rebuilt from the id).</param>
internal sealed record JobLease(string Owner, DateTimeOffset AcquiredAt, string? Message = null);
