using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Serverless.Jobs.Messages;
using Serverless.Jobs.Storage;
using Serverless.Jobs.Telemetry;

namespace Serverless.Jobs;

/// <summary>
/// Closes the job of a message the host gave up on (trigger on <c>%PromptJobsQueue%-poison</c>): marks it failed with the
/// last error its attempts recorded, so every accepted job ends in <c>succeeded</c> or <c>failed</c>.
/// </summary>
/// <remarks>
/// The queue extension moves a poisoned message as a new message (new id, same text), so the poison message id says
/// nothing. Messages from the HTTP submit carry their job id. For hand-dropped messages (raw prompt text, or a spec
/// without an id) the worker, on first sight, adds the job id to <c>jobs/_by-content/{sha256(text)}.json</c>; this
/// handler looks the text up there. That works even when the worker died mid-attempt (out of memory, instance
/// recycled) and does not depend on knowing the host's maxDequeueCount, which a "fail on the last attempt" rule would.
/// Identical texts dropped several times map to several jobs; the unfinished one with the most attempts is closed.
/// </remarks>
public sealed class PoisonJobHandler
{
    private readonly JobStore _store;
    private readonly MessageContentIndex _contentIndex;
    private readonly Callbacks.JobCallbacks _callbacks;
    private readonly TimeProvider _time;
    private readonly ILogger<PoisonJobHandler> _logger;

    internal PoisonJobHandler(JobStore store, MessageContentIndex contentIndex, Callbacks.JobCallbacks callbacks, TimeProvider time, ILogger<PoisonJobHandler> logger)
    {
        _store = store;
        _contentIndex = contentIndex;
        _callbacks = callbacks;
        _time = time;
        _logger = logger;
    }

    public async Task HandleAsync(string messageText, string messageId, CancellationToken cancellationToken)
    {
        var message = QueueMessageReader.Read(messageText, messageId);
        var candidates = message.HasExplicitId
            ? [message.JobId]
            : await _contentIndex.GetAsync(QueueMessageReader.ContentHash(messageText ?? ""), cancellationToken).ConfigureAwait(false);

        using var activity = JobsTelemetry.Source.StartActivity("jobs.poison", ActivityKind.Consumer);
        activity?.SetTag("messaging.message.id", messageId);
        using var scope = _logger.BeginScope(new Dictionary<string, object> { ["PoisonMessageId"] = messageId });
        if (candidates.Count == 0)
        {
            // The worker never saw this text (e.g. a host that could not decode it): record it under the poison message id.
            var error = message.Error ?? new JobError(JobErrorCodes.RetriesExhausted,
                "The message reached the poison queue before any attempt recorded it; check the function host's logs.");
            var failed = await FailAsync(message.JobId, error, null, cancellationToken).ConfigureAwait(false);
            _logger.LogWarning("Poison message {PoisonMessageId} matched no known job; recorded it as failed job {JobId} ({ErrorCode})", messageId, failed?.Id, error.Code);
            return;
        }

        var open = new List<JobRecord>();
        var unrecorded = new List<string>();
        foreach (var id in candidates)
        {
            var found = await _store.GetAsync(id, cancellationToken).ConfigureAwait(false);
            if (found is null) unrecorded.Add(id);
            else if (!found.Value.Record.IsTerminal) open.Add(found.Value.Record);
        }
        if (open.Count == 0 && unrecorded.Count > 0)
        {
            // Known jobs that never got a record (every attempt failed before writing one, or the worker never ran):
            // a missing record is never "already finished". Create them failed so GET answers.
            var error = message.Error ?? new JobError(JobErrorCodes.RetriesExhausted,
                "The message reached the poison queue before any attempt recorded it; check the function host's logs.");
            foreach (var id in unrecorded)
            {
                await FailAsync(id, error, null, cancellationToken).ConfigureAwait(false);
                _logger.LogWarning("Poison message {PoisonMessageId}: job {JobId} had no record; recorded it as failed ({ErrorCode})", messageId, id, error.Code);
            }
            return;
        }
        if (open.Count == 0)
        {
            _logger.LogInformation("Poison message {PoisonMessageId}: its job is already finished; nothing to do", messageId);
            return;
        }

        var job = open.OrderByDescending(r => r.Attempts).ThenBy(r => r.CreatedAt).First();
        using var jobScope = _logger.BeginScope(new Dictionary<string, object> { ["JobId"] = job.Id });
        var last = job.LastError;
        var reason = last is null
            ? new JobError(JobErrorCodes.RetriesExhausted,
                $"Gave up after {job.Attempts} attempt(s) without a recorded error (the worker may have stopped mid-attempt, e.g. out of memory).")
            : new JobError(last.Code, $"Gave up after {job.Attempts} attempt(s). Last error: {last.Message}");
        var stored = await FailAsync(job.Id, reason, job, cancellationToken).ConfigureAwait(false);
        _logger.LogWarning("Job {JobId} failed after its message was poisoned ({ErrorCode}): {Reason}", job.Id, stored?.Error?.Code, stored?.Error?.Message);
    }

    private async Task<JobRecord?> FailAsync(string id, JobError error, JobRecord? known, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var stored = await _store.UpdateAsync(id, r => (r ?? JobRecord.Created(id, now, JobRecord.FromQueue)).Fail(now,
            // Re-read under the ETag: a newer attempt may have recorded a later error since we looked.
            r?.LastError is { } latest && known is not null && latest != known.LastError
                ? new JobError(latest.Code, $"Gave up after {r.Attempts} attempt(s). Last error: {latest.Message}")
                : error), cancellationToken).ConfigureAwait(false);
        if (stored is { Status: JobStatus.Failed })
        {
            JobsTelemetry.PoisonHandled.Add(1, JobsTelemetry.ErrorCode(stored.Error?.Code));
            JobsTelemetry.RecordCompleted(Activity.Current, JobStatus.Failed, stored.Error);
        }
        await _callbacks.NotifyAsync(stored, cancellationToken).ConfigureAwait(false);
        return stored;
    }
}
