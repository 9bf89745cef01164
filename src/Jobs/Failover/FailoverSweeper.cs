using System.Text.Json;
using Microsoft.Extensions.Logging;
using Serverless.Jobs.Storage;

namespace Serverless.Jobs.Failover;

/// <summary>
/// Hands a dead instance's jobs back: lists the heartbeats (one List Blobs call), and for each older than
/// <see cref="FailoverOptions.DeadAfter"/> by storage's clock reads the jobs it listed, moves each still held by it from
/// running back to queued under the record's ETag (<see cref="JobRecord.Released"/>, the attempt named in
/// <c>last_error</c>) and sends its message again, then deletes the heartbeat (unless renewed meanwhile). A job whose
/// instance died <see cref="FailoverOptions.MaxAttempts"/> times fails instead. Any number of instances may sweep at
/// once: the conditional writes let one of them act on each job.
/// </summary>
internal sealed class FailoverSweeper
{
    private readonly HeartbeatStore _heartbeats;
    private readonly JobStore _store;
    private readonly JobQueue _queue;
    private readonly Batches.BatchQueue? _batchQueue;
    private readonly Callbacks.JobCallbacks _callbacks;
    private readonly FailoverOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public FailoverSweeper(HeartbeatStore heartbeats, JobStore store, JobQueue queue, Callbacks.JobCallbacks callbacks, FailoverOptions options, TimeProvider time,
        ILogger<FailoverSweeper> logger, Batches.BatchQueue? batchQueue = null)
    {
        _batchQueue = batchQueue;
        _heartbeats = heartbeats;
        _store = store;
        _queue = queue;
        _callbacks = callbacks;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>Sweeps once. Returns the jobs and batch chunks handed back (or failed) by this call.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        await _store.EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        var handled = 0;
        foreach (var dead in (await _heartbeats.ListAsync(cancellationToken).ConfigureAwait(false)).Where(h => h.Age > _options.DeadAfter && h.Instance != _options.InstanceId))
        {
            var beat = await _heartbeats.ReadAsync(dead.Instance, dead.ETag, cancellationToken).ConfigureAwait(false);
            if (beat is null) continue; // renewed (alive) or removed by another sweep since the listing
            _logger.LogWarning("Instance {Instance} is dead (heartbeat {Age:F0} s old); handing back its {Count} job(s)", dead.Instance, dead.Age.TotalSeconds, beat.Jobs.Count);
            foreach (var id in beat.Jobs)
            {
                if (await HandBackAsync(id, dead.Instance, "its instance stopped renewing its heartbeat (killed, out of memory or unreachable)", TimeSpan.Zero, cancellationToken).ConfigureAwait(false))
                    handled++;
            }
            if (_batchQueue is not null)
            {
                // Batch chunks have no record to hold them: their messages go back as they were. A chunk already counted
                // (or run meanwhile) is answered once all the same (its marker is written once); two sweeps of the same
                // dead instance may both send it, which costs a second look at the batch, nothing more.
                foreach (var text in beat.Chunks ?? [])
                {
                    if (JsonSerializer.Deserialize<Batches.BatchMessage>(text, Batches.BatchJson.Options) is not { } chunk) continue;
                    await _batchQueue.SendAsync(chunk, cancellationToken).ConfigureAwait(false);
                    _logger.LogInformation("Chunk {Chunk} of batch {BatchId}: handed back from instance {Owner}; message sent again", chunk.Chunk, chunk.BatchId, dead.Instance);
                    handled++;
                }
            }
            await _heartbeats.DeleteAsync(dead.Instance, dead.ETag, cancellationToken).ConfigureAwait(false);
        }
        return handled;
    }

    /// <summary>Moves job <paramref name="id"/> from <paramref name="owner"/> back to the queue (running → queued, message sent
    /// again, visible after <paramref name="visibleAfter"/>), or fails it once <see cref="FailoverOptions.MaxAttempts"/>
    /// attempts have been lost. False when the record says someone else holds it, or that it ended.</summary>
    public async Task<bool> HandBackAsync(string id, string owner, string why, TimeSpan visibleAfter, CancellationToken cancellationToken)
    {
        JobLease? lease = null;
        var now = _time.GetUtcNow();
        var reason = new JobError(JobErrorCodes.InstanceLost, $"Attempt on instance {owner} did not finish: {why}. The job was handed to another instance.");
        var stored = await _store.UpdateAsync(id, r =>
        {
            lease = null;
            if (r is not { Status: JobStatus.Running, Lease: { } held } || held.Owner != owner) return null;
            lease = held;
            return r.Attempts >= _options.MaxAttempts
                ? r.Fail(now, new JobError(JobErrorCodes.RetriesExhausted, $"Gave up after {r.Attempts} attempt(s): the instance running each one was lost. Last: {reason.Message}"))
                : r.Released(now, reason);
        }, cancellationToken).ConfigureAwait(false);
        if (lease is null || stored is null) return false;
        if (stored.Status == JobStatus.Failed)
        {
            _logger.LogWarning("Job {JobId} failed: {Attempts} attempts lost their instance", id, stored.Attempts);
            await _callbacks.NotifyAsync(stored, cancellationToken).ConfigureAwait(false);
            return true;
        }
        // Record first, then the message: a sweep that stops in between leaves a queued job whose first message comes
        // back when the dead instance's message lease runs out (the old 10-minute path), never a job held by no one forever.
        await _queue.SendAsync(JobOwnership.MessageFor(id, lease), visibleAfter, cancellationToken).ConfigureAwait(false);
        _logger.LogInformation("Job {JobId}: handed back from instance {Owner} after attempt {Attempt}; message sent again", id, owner, stored.Attempts);
        return true;
    }
}
