using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Microsoft.Extensions.Logging;

namespace Serverless.Jobs.Storage;

/// <summary>
/// The jobs' status records <c>jobs/{id}.json</c>, written under ETag conditions so they never go backwards, and the
/// listing of jobs newest first. Keeps the <see cref="JobTimeIndex"/> in step: its entry is written when a record is
/// created and when it ends, whoever writes it (submit, worker, cancel, poison handler, sweeper). Outputs, spilled inputs
/// and the content index live in <see cref="JobOutputStore"/>, <see cref="JobInputStore"/> and <see cref="MessageContentIndex"/>.
/// </summary>
internal sealed class JobStore
{
    private readonly JobContainers _containers;
    private readonly JobTimeIndex _index;
    private readonly ILogger _logger;

    public JobStore(JobContainers containers, JobTimeIndex index, ILogger<JobStore> logger)
    {
        _containers = containers;
        _index = index;
        _logger = logger;
    }

    /// <summary>The <c>jobs</c> container (also home to the heartbeats and checkpoints).</summary>
    public BlobContainerClient JobsContainer => _containers.Jobs;

    /// <summary>Creates the containers if missing, once per process.</summary>
    public Task EnsureCreatedAsync(CancellationToken cancellationToken) => _containers.EnsureCreatedAsync(cancellationToken);

    public async Task<(JobRecord Record, ETag ETag)?> GetAsync(string id, CancellationToken cancellationToken)
    {
        await EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        var read = await JsonBlobs.ReadAsync<JobRecord>(Blob(id), cancellationToken).ConfigureAwait(false);
        return read is { } r ? (r.Value, r.ETag) : null;
    }

    /// <summary>Creates a record; false if another one already exists (If-None-Match: *). True also when the record found is
    /// this one: the storage client retries a try that timed out, and when the first try had reached storage the retry is
    /// answered 409 BlobAlreadyExists; the record's <see cref="JobRecord.CreationId"/> tells it apart.</summary>
    public async Task<bool> CreateAsync(JobRecord record, CancellationToken cancellationToken)
    {
        await EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        var created = await JsonBlobs.TryUploadAsync(Blob(record.Id), record, new BlobRequestConditions { IfNoneMatch = ETag.All }, cancellationToken)
            .ConfigureAwait(false) is not null;
        if (!created && record.CreationId is not null &&
            (await GetAsync(record.Id, cancellationToken).ConfigureAwait(false))?.Record.CreationId == record.CreationId)
        {
            _logger.LogInformation("Job {JobId}: the record's create was retried after a lost answer; the record found is this one", record.Id);
            created = true;
        }
        if (created) await _index.WriteAsync(record, isNew: true, cancellationToken).ConfigureAwait(false);
        return created;
    }

    /// <summary>The record's ETag (a HEAD, no body), or null if there is no record: how the cancellation watcher sees
    /// that a record changed without reading it.</summary>
    public async Task<ETag?> GetRecordETagAsync(string id, CancellationToken cancellationToken)
    {
        try
        {
            return (await Blob(id).GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Value.ETag;
        }
        catch (RequestFailedException e) when (e.Status == 404) { return null; }
    }

    /// <summary>
    /// A page of jobs from the time index, newest first, optionally only jobs in <paramref name="status"/>. Without a filter:
    /// one List Blobs call of <paramref name="limit"/> entries. With one, further calls of the remaining size until the page
    /// is full, the index ends or <paramref name="maxCalls"/> calls were made (the page may then be short, with a continuation).
    /// </summary>
    public async Task<(IReadOnlyList<JobIndexEntry> Jobs, string? Continuation)> ListAsync(JobStatus? status, int limit, string? continuation, int maxCalls,
        CancellationToken cancellationToken)
    {
        var jobs = new List<JobIndexEntry>(limit);
        for (var call = 0; call < maxCalls && jobs.Count < limit; call++)
        {
            // One call per loop turn: the next asks only for what the page still lacks.
            (var entries, continuation) = await _index.ReadPageAsync(continuation, limit - jobs.Count, cancellationToken).ConfigureAwait(false);
            await ReadUnfinishedAsync(entries, cancellationToken).ConfigureAwait(false);
            jobs.AddRange(entries.Where(e => status is null || e.Status == status));
            if (continuation is null) break;
        }
        return (jobs, continuation);
    }

    /// <summary>Replaces the entries of jobs not finished by the index's account with what their records say (the index
    /// is not written when a job starts); an entry whose record is gone or unreadable stays as it is.</summary>
    private async Task ReadUnfinishedAsync(JobIndexEntry[] entries, CancellationToken cancellationToken)
    {
        var unfinished = Enumerable.Range(0, entries.Length).Where(i => !JobRecord.IsTerminalStatus(entries[i].Status));
        await Parallel.ForEachAsync(unfinished, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken }, async (i, ct) =>
        {
            try
            {
                if ((await GetAsync(entries[i].Id, ct).ConfigureAwait(false))?.Record is { } record)
                    entries[i] = new JobIndexEntry(record.Id, record.Status, record.CreatedAt, record.CompletedAt, record.PromptCount);
            }
            catch (InvalidDataException e)
            {
                // One damaged record must not take the listing down; GET /api/jobs/{id} reports it.
                _logger.LogWarning(e, "Job {JobId}: listed from its index entry; the record is not readable", entries[i].Id);
            }
        }).ConfigureAwait(false);
    }

    /// <summary>Reads a record into a <see cref="TrackedRecord"/> whose updates then start from what was read.</summary>
    public async Task<TrackedRecord> TrackAsync(string id, CancellationToken cancellationToken)
    {
        var tracked = new TrackedRecord(id);
        var read = await GetAsync(id, cancellationToken).ConfigureAwait(false);
        tracked.Set(read?.Record, read?.ETag);
        return tracked;
    }

    /// <summary>
    /// Read-modify-write of a record under an ETag condition, retried after re-reading on 412/409.
    /// <paramref name="transition"/> gets the current record (null if there is none) and returns the next one by one of
    /// <see cref="JobRecord"/>'s transitions, or null for "no change". A result the current record cannot become
    /// (<see cref="JobRecord.CanBecome"/>: backwards, or a terminal record changed) is not written. Returns the record as
    /// stored afterwards (null if none exists and none was made).
    /// </summary>
    public Task<JobRecord?> UpdateAsync(string id, Func<JobRecord?, JobRecord?> transition, CancellationToken cancellationToken) =>
        UpdateAsync(new TrackedRecord(id), transition, cancellationToken);

    /// <summary>
    /// <see cref="UpdateAsync(string, Func{JobRecord?, JobRecord?}, CancellationToken)"/> starting from the version
    /// <paramref name="tracked"/> holds instead of a read: the write is conditioned on its ETag, so a version replaced since
    /// fails it (412) and the change is made again over a fresh read. "No change" and "cannot become" are decided on a read,
    /// never on the tracked version alone. <paramref name="tracked"/> holds the record as stored afterwards.
    /// </summary>
    public async Task<JobRecord?> UpdateAsync(TrackedRecord tracked, Func<JobRecord?, JobRecord?> transition, CancellationToken cancellationToken)
    {
        await EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        var id = tracked.Id;
        var blob = Blob(id);
        var current = tracked.Current;
        for (var attempt = 1; ; attempt++)
        {
            var fresh = current is null;
            if (current is null)
            {
                var read = await JsonBlobs.ReadAsync<JobRecord>(blob, cancellationToken).ConfigureAwait(false);
                tracked.Set(read?.Value, read?.ETag);
                current = tracked.Current!;
            }
            var old = current.Record;
            var next = transition(old);
            if (next is not null && next.Id != id) throw new InvalidOperationException($"A change of job {id} produced a record for {next.Id}.");
            if (next is null || (old is not null && !old.CanBecome(next)))
            {
                if (!fresh)
                {
                    // Decided on the tracked version, which may be out of date: decide again on what storage holds.
                    current = null;
                    continue;
                }
                if (next is not null) _logger.LogDebug("Job {JobId}: dropped a {From} -> {To} change: records never go backwards", id, old!.Status, next.Status);
                return old;
            }
            var conditions = old is not null ? new BlobRequestConditions { IfMatch = current.ETag!.Value } : new BlobRequestConditions { IfNoneMatch = ETag.All };
            if (await JsonBlobs.TryUploadAsync(blob, next, conditions, cancellationToken).ConfigureAwait(false) is { } written)
            {
                tracked.Set(next, written);
                // The entry is written when the job is created and when it ends; in between a listing reads the record.
                if (old is null || (next.IsTerminal && !old.IsTerminal))
                    await _index.WriteAsync(next, isNew: old is null, cancellationToken).ConfigureAwait(false);
                return next;
            }
            if (attempt >= JsonBlobs.MaxConditionalAttempts)
                throw new InvalidOperationException($"Job {id}: the status record kept changing under {JsonBlobs.MaxConditionalAttempts} conditional updates; giving up this attempt.");
            _logger.LogDebug("Job {JobId}: status record changed concurrently; re-reading (attempt {Attempt})", id, attempt);
            current = null;
        }
    }

    /// <summary>A job's blob name, <c>{id}.json</c> (records, outputs and checkpoints alike); throws for an invalid id.</summary>
    internal static string RecordName(string id) =>
        JobId.IsValid(id) ? id + ".json" : throw new ArgumentException($"'{id}' is not a valid job id.", nameof(id));

    private BlobClient Blob(string id) => _containers.Jobs.GetBlobClient(RecordName(id));
}
