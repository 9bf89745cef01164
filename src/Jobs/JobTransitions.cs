using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Serverless.Jobs.Messages;
using Serverless.Jobs.Storage;
using Serverless.Jobs.Telemetry;

namespace Serverless.Jobs;

/// <summary>
/// The worker's changes of a job's state, each made once under the record's ETag (the attempt's <see cref="TrackedRecord"/>:
/// one request per change) by one of <see cref="JobRecord"/>'s transitions, and each followed here, and only here, by its
/// side effects: the outcome's telemetry and log line, and the callback of a job that ended. The time-index entry follows
/// the record inside <see cref="JobStore"/>, which every writer of records (submit, cancel, poison handler, sweeper) goes
/// through. Logs under the worker's category (the job's log lines are the worker's; log queries and filters name it).
/// </summary>
internal sealed class JobTransitions(JobStore store, JobOutputStore outputs, Callbacks.JobCallbacks callbacks, Failover.JobOwnership? ownership,
    PromptJobsOptions options, TimeProvider time, ILogger<JobWorker> logger)
{
    /// <summary>Starts an attempt: running, one more attempt, under this instance's lease when failover is on.</summary>
    /// <returns>The record to run; null when there is nothing to run: the job ended meanwhile (its callback is sent) or a
    /// live instance holds it (this delivery is a duplicate).</returns>
    public async Task<JobRecord?> StartAsync(TrackedRecord tracked, ParsedMessage message, int promptCount, CancellationToken cancellationToken)
    {
        var id = tracked.Id;
        JobRecord? record;
        if (ownership is { Enabled: true })
        {
            (record, var heldElsewhere) = await ownership.StartAsync(tracked, message, promptCount, cancellationToken).ConfigureAwait(false);
            if (heldElsewhere)
            {
                logger.LogInformation("Job {JobId} is held by live instance {Owner}; the message completes without running it", id, record?.Lease?.Owner);
                return null;
            }
        }
        else
        {
            var now = time.GetUtcNow();
            record = await store.UpdateAsync(tracked, r => (r ?? JobRecord.Created(id, now, JobRecord.FromQueue)).Started(now, promptCount),
                cancellationToken).ConfigureAwait(false);
        }
        if (record is null || record.IsTerminal)
        {
            // Finished concurrently by another delivery (or cancelled just now).
            await callbacks.NotifyAsync(record, cancellationToken).ConfigureAwait(false);
            return null;
        }
        if (record.Attempts == 1 && record.StartedAt is { } startedAt)
            JobsTelemetry.QueueWait.Record(Math.Max(0, (startedAt - record.CreatedAt).TotalSeconds));
        return record;
    }

    /// <summary>Progress of the running attempt. Best effort: a write that fails is logged, never fails the job.</summary>
    public async Task ProgressAsync(TrackedRecord tracked, JobProgress progress, CancellationToken cancellationToken)
    {
        try
        {
            await store.UpdateAsync(tracked, r => r?.Progressed(progress), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (StorageFailure.Is(e))
        {
            logger.LogWarning(e, "Job {JobId}: could not record progress", tracked.Id);
        }
    }

    /// <summary>Succeeded, its output written; <paramref name="attempt"/> (if any) logged in the same write.</summary>
    /// <returns>The record as stored: <c>succeeded</c>, or <c>cancelled</c> when a cancel got there first (its output is then removed).</returns>
    public async Task<JobRecord?> SucceedAsync(TrackedRecord tracked, JobUsage usage, Failover.AttemptRecord? attempt, CancellationToken cancellationToken)
    {
        var stored = await store.UpdateAsync(tracked, r => (attempt is null ? r : r?.Logged(attempt))?.Succeed(time.GetUtcNow(), usage), cancellationToken)
            .ConfigureAwait(false);
        if (stored is { Status: JobStatus.Succeeded })
        {
            logger.LogInformation(
                "Job {JobId} succeeded: {PromptCount} prompt(s), {InputTokens} tokens in, {OutputTokens} tokens out, {TokensPerSecond:F1} tok/s, {DurationMs:F0} ms",
                tracked.Id, stored.PromptCount, usage.InputTokens, usage.OutputTokens, usage.TokensPerSecond, usage.DurationMs);
            JobsTelemetry.RecordCompleted(Activity.Current, JobStatus.Succeeded, null);
            await callbacks.NotifyAsync(stored, cancellationToken).ConfigureAwait(false);
        }
        else if (stored is { Status: JobStatus.Cancelled })
        {
            // Cancelled after the last step but before the record said succeeded: a cancelled job keeps no output.
            logger.LogInformation("Job {JobId}: cancelled as it finished; output removed", tracked.Id);
            await CancelledAsync(tracked.Id, cancellationToken).ConfigureAwait(false);
        }
        return stored;
    }

    /// <summary>Failed for good (also for a job that has no record yet: a bad hand-dropped message).</summary>
    public async Task FailAsync(TrackedRecord tracked, JobError error, int promptCount, CancellationToken cancellationToken)
    {
        var id = tracked.Id;
        var now = time.GetUtcNow();
        var stored = await store.UpdateAsync(tracked, r => (r ?? JobRecord.Created(id, now, JobRecord.FromQueue, promptCount)).Fail(now, error),
            cancellationToken).ConfigureAwait(false);
        if (stored is { Status: JobStatus.Failed } && ReferenceEquals(stored.Error, error))
        {
            logger.LogWarning("Job {JobId} failed ({ErrorCode}): {Reason}", id, error.Code, error.MessageForTelemetry(options.Telemetry.IncludeText));
            JobsTelemetry.RecordCompleted(Activity.Current, JobStatus.Failed, error);
        }
        await callbacks.NotifyAsync(stored, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The attempt failed and the message will be delivered again: <c>last_error</c> names it (best effort).</summary>
    public async Task AttemptFailedAsync(TrackedRecord tracked, int attempt, JobError error)
    {
        JobsTelemetry.Retries.Add(1, JobsTelemetry.ErrorCode(error.Code));
        Activity.Current?.SetTag("error.code", error.Code).SetStatus(ActivityStatusCode.Error, error.Code);
        try
        {
            var at = time.GetUtcNow();
            await store.UpdateAsync(tracked, r => r?.AttemptFailed(attempt, error, at), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception recordError)
        {
            logger.LogError(recordError, "Job {JobId}: could not record the failed attempt", tracked.Id);
        }
    }

    /// <summary>The host is stopping (scale-in): the job goes back to <c>queued</c> with a new message visible now, so the
    /// delivery completes instead of coming back after a timeout. False when failover is off or the hand-back failed.</summary>
    public async Task<bool> HandBackAsync(string id) =>
        ownership is { Enabled: true } && await ownership.HandBackOnShutdownAsync(id, TimeSpan.FromSeconds(10)).ConfigureAwait(false);

    /// <summary>The job was cancelled (by a request, seen on its record): its output, if any, goes and its callback is sent.</summary>
    public async Task CancelledAsync(string id, CancellationToken cancellationToken)
    {
        var record = (await store.GetAsync(id, cancellationToken).ConfigureAwait(false))?.Record;
        if (record?.Status != JobStatus.Cancelled) return;
        await outputs.DeleteAsync(id, cancellationToken).ConfigureAwait(false);
        await callbacks.NotifyAsync(record, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A delivery of a job that already ended: its callback, if not sent yet (cancelled while queued, or its
    /// instance stopped between the end and the callback).</summary>
    public Task NotifyEndedAsync(JobRecord record, CancellationToken cancellationToken) => callbacks.NotifyAsync(record, cancellationToken);
}
