using System.Globalization;
using System.Text;
using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Microsoft.Extensions.Logging;

namespace Serverless.Jobs.Storage;

/// <summary>
/// The job state in Blob Storage: status records <c>jobs/{id}.json</c> (ETag-conditioned so they never go backwards),
/// outputs <c>completions/{id}.json</c> (written once), spilled inputs <c>jobs/_inputs/{id}.json</c> and the content
/// index <c>jobs/_by-content/{sha256}.json</c> the poison handler uses to find jobs of messages without an id.
/// Names under <c>_</c> cannot collide with records: ids never contain '/' or '.'.
/// The time index <c>jobs/_by-time/{DateTimeOffset.MaxValue ticks - created ticks, 19 digits}-{id}</c> is an empty blob per
/// job whose metadata holds its status, times and prompt count: a listing by prefix returns the newest jobs first, one
/// List Blobs call per page. The entry is written twice, when the job is created and when it ends (best effort; the record
/// stays the truth): a listing takes a finished job from its entry alone and reads the record of any other, so running
/// jobs show as running without a third write per job, and a missed write shows nothing stale.
/// </summary>
internal sealed class JobStore
{
    private const int MaxConditionalAttempts = 16;
    private readonly BlobContainerClient _jobs;
    private readonly BlobContainerClient _completions;
    private readonly ILogger _logger;
    private readonly OnceAsync _ensureCreated;

    public JobStore(BlobContainerClient jobs, BlobContainerClient completions, ILogger<JobStore> logger)
    {
        _jobs = jobs;
        _completions = completions;
        _logger = logger;
        _ensureCreated = new OnceAsync(async ct =>
        {
            await _jobs.CreateIfNotExistsAsync(cancellationToken: ct).ConfigureAwait(false);
            await _completions.CreateIfNotExistsAsync(cancellationToken: ct).ConfigureAwait(false);
        });
    }

    public BlobContainerClient JobsContainer => _jobs;
    public BlobContainerClient CompletionsContainer => _completions;

    /// <summary>Creates the containers if missing, once per process.</summary>
    public Task EnsureCreatedAsync(CancellationToken cancellationToken) => _ensureCreated.RunAsync(cancellationToken);

    public async Task<(JobRecord Record, ETag ETag)?> GetAsync(string id, CancellationToken cancellationToken)
    {
        await EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        var read = await ReadAsync<JobRecord>(_jobs.GetBlobClient(RecordName(id)), cancellationToken).ConfigureAwait(false);
        return read is { } r ? (r.Value, r.ETag) : null;
    }

    /// <summary>Creates a record; false if another one already exists (If-None-Match: *). True also when the record found is
    /// this one: the storage client retries a try that timed out, and when the first try had reached storage the retry is
    /// answered 409 BlobAlreadyExists; the record's <see cref="JobRecord.CreationId"/> tells it apart.</summary>
    public async Task<bool> CreateAsync(JobRecord record, CancellationToken cancellationToken)
    {
        await EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        var created = await TryUploadAsync(_jobs.GetBlobClient(RecordName(record.Id)), record, new BlobRequestConditions { IfNoneMatch = ETag.All }, cancellationToken)
            .ConfigureAwait(false) is not null;
        if (!created && record.CreationId is not null &&
            (await GetAsync(record.Id, cancellationToken).ConfigureAwait(false))?.Record.CreationId == record.CreationId)
        {
            _logger.LogInformation("Job {JobId}: the record's create was retried after a lost answer; the record found is this one", record.Id);
            created = true;
        }
        if (created) await IndexAsync(record, isNew: true, cancellationToken).ConfigureAwait(false);
        return created;
    }

    /// <summary>The record's ETag (a HEAD, no body), or null if there is no record: how the cancellation watcher sees
    /// that a record changed without reading it.</summary>
    public async Task<ETag?> GetRecordETagAsync(string id, CancellationToken cancellationToken)
    {
        try
        {
            return (await _jobs.GetBlobClient(RecordName(id)).GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Value.ETag;
        }
        catch (RequestFailedException e) when (e.Status == 404) { return null; }
    }

    /// <summary>
    /// A page of the time index, newest first, optionally only jobs in <paramref name="status"/>. Without a filter: one List
    /// Blobs call of <paramref name="limit"/> entries. With one, further calls of the remaining size until the page is
    /// full, the index ends or <paramref name="maxCalls"/> calls were made (the page may then be short, with a continuation).
    /// </summary>
    public async Task<(IReadOnlyList<JobIndexEntry> Jobs, string? Continuation)> ListAsync(JobStatus? status, int limit, string? continuation, int maxCalls,
        CancellationToken cancellationToken)
    {
        await EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        var jobs = new List<JobIndexEntry>(limit);
        for (var call = 0; call < maxCalls && jobs.Count < limit; call++)
        {
            var pages = _jobs.GetBlobsAsync(new GetBlobsOptions { Prefix = TimeIndexPrefix, Traits = BlobTraits.Metadata }, cancellationToken)
                .AsPages(continuation, limit - jobs.Count);
            await foreach (var page in pages.ConfigureAwait(false))
            {
                var entries = page.Values.Select(ReadIndexEntry).OfType<JobIndexEntry>().ToArray();
                await ReadUnfinishedAsync(entries, cancellationToken).ConfigureAwait(false);
                jobs.AddRange(entries.Where(e => status is null || e.Status == status));
                continuation = string.IsNullOrEmpty(page.ContinuationToken) ? null : page.ContinuationToken;
                break; // one call per loop turn: the next asks only for what the page still lacks
            }
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
        var blob = _jobs.GetBlobClient(RecordName(id));
        var current = tracked.Current;
        for (var attempt = 1; ; attempt++)
        {
            var fresh = current is null;
            if (current is null)
            {
                var read = await ReadAsync<JobRecord>(blob, cancellationToken).ConfigureAwait(false);
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
            if (await TryUploadAsync(blob, next, conditions, cancellationToken).ConfigureAwait(false) is { } written)
            {
                tracked.Set(next, written);
                // The entry is written when the job is created and when it ends; in between a listing reads the record.
                if (old is null || (next.IsTerminal && !old.IsTerminal))
                    await IndexAsync(next, isNew: old is null, cancellationToken).ConfigureAwait(false);
                return next;
            }
            if (attempt >= MaxConditionalAttempts)
                throw new InvalidOperationException($"Job {id}: the status record kept changing under {MaxConditionalAttempts} conditional updates; giving up this attempt.");
            _logger.LogDebug("Job {JobId}: status record changed concurrently; re-reading (attempt {Attempt})", id, attempt);
            current = null;
        }
    }

    /// <summary>Writes the output once (If-None-Match: *); false if it already exists — a duplicate, not an error.</summary>
    public async Task<bool> WriteOutputAsync(JobOutput output, CancellationToken cancellationToken)
    {
        await EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        return await TryUploadAsync(_completions.GetBlobClient(RecordName(output.Id)), output, new BlobRequestConditions { IfNoneMatch = ETag.All }, cancellationToken)
            .ConfigureAwait(false) is not null;
    }

    /// <summary>Deletes the output of a job that ended cancelled (if any).</summary>
    public async Task DeleteOutputAsync(string id, CancellationToken cancellationToken)
    {
        await EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        await _completions.GetBlobClient(RecordName(id)).DeleteIfExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    public async Task<JobOutput?> GetOutputAsync(string id, CancellationToken cancellationToken)
    {
        await EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        return (await ReadAsync<JobOutput>(_completions.GetBlobClient(RecordName(id)), cancellationToken).ConfigureAwait(false))?.Value;
    }

    /// <summary>Keeps a job spec too large for a queue message; the message then carries only the id.</summary>
    public async Task WriteInputAsync(string id, string specJson, CancellationToken cancellationToken)
    {
        await EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        await _jobs.GetBlobClient(InputName(id)).UploadAsync(BinaryData.FromString(specJson),
            new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" } }, cancellationToken).ConfigureAwait(false);
    }

    public async Task<string?> ReadInputAsync(string id, CancellationToken cancellationToken)
    {
        await EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var content = await _jobs.GetBlobClient(InputName(id)).DownloadContentAsync(cancellationToken).ConfigureAwait(false);
            return content.Value.Content.ToString();
        }
        catch (RequestFailedException e) when (e.Status == 404) { return null; }
    }

    /// <summary>Adds a job id to the index of a message content (idempotent).</summary>
    public async Task AddToContentIndexAsync(string contentHash, string id, CancellationToken cancellationToken)
    {
        await EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        var blob = _jobs.GetBlobClient(ContentIndexName(contentHash));
        for (var attempt = 1; ; attempt++)
        {
            var current = await ReadAsync<ContentIndex>(blob, cancellationToken).ConfigureAwait(false);
            if (current is { } c && c.Value.JobIds.Contains(id)) return;
            var next = new ContentIndex([.. current?.Value.JobIds ?? [], id]);
            var conditions = current is { } cur ? new BlobRequestConditions { IfMatch = cur.ETag } : new BlobRequestConditions { IfNoneMatch = ETag.All };
            if (await TryUploadAsync(blob, next, conditions, cancellationToken).ConfigureAwait(false) is not null) return;
            if (attempt >= MaxConditionalAttempts) throw new InvalidOperationException($"The content index {contentHash} kept changing; giving up this attempt.");
        }
    }

    public async Task<IReadOnlyList<string>> GetContentIndexAsync(string contentHash, CancellationToken cancellationToken)
    {
        await EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        return (await ReadAsync<ContentIndex>(_jobs.GetBlobClient(ContentIndexName(contentHash)), cancellationToken).ConfigureAwait(false))?.Value.JobIds ?? [];
    }

    internal static string RecordName(string id) =>
        JobId.IsValid(id) ? id + ".json" : throw new ArgumentException($"'{id}' is not a valid job id.", nameof(id));

    internal const string TimeIndexPrefix = "_by-time/";

    internal static string TimeIndexName(string id, DateTimeOffset createdAt) =>
        TimeIndexPrefix + (DateTimeOffset.MaxValue.UtcTicks - createdAt.UtcTicks).ToString("D19", CultureInfo.InvariantCulture) + "-" + RecordName(id)[..^".json".Length];

    /// <summary>Upserts the job's time-index entry unless it already shows a later status (the index, like the record, never
    /// goes backwards). Best effort. The first try needs no HEAD: a record just created has no entry yet (If-None-Match: *),
    /// and a final status overwrites whatever the entry shows (a record ends once, so only one final write is made; an
    /// earlier status is all it can replace). Only a missing entry or a lost race falls back to HEAD and compare.</summary>
    private async Task IndexAsync(JobRecord record, bool isNew, CancellationToken cancellationToken)
    {
        var blob = _jobs.GetBlobClient(TimeIndexName(record.Id, record.CreatedAt));
        var metadata = new Dictionary<string, string>
        {
            ["status"] = JsonSerializer.Serialize(record.Status, JobsJson.Options).Trim('"'),
            ["created_at"] = record.CreatedAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
            ["prompt_count"] = record.PromptCount.ToString(CultureInfo.InvariantCulture),
        };
        if (record.CompletedAt is { } completed) metadata["completed_at"] = completed.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);
        try
        {
            var lookUp = !isNew;
            if (!isNew && record.IsTerminal)
            {
                try
                {
                    await blob.SetMetadataAsync(metadata, cancellationToken: cancellationToken).ConfigureAwait(false);
                    return;
                }
                catch (RequestFailedException e) when (e.Status == 404)
                {
                    lookUp = false; // no entry (its create failed): make it below
                }
            }
            for (var attempt = 1; attempt <= MaxConditionalAttempts; attempt++)
            {
                ETag? existing = null;
                if (lookUp)
                {
                    try
                    {
                        var properties = (await blob.GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Value;
                        if (ParseStatus(properties.Metadata) is { } stored && stored > record.Status) return;
                        existing = properties.ETag;
                    }
                    catch (RequestFailedException e) when (e.Status == 404) { }
                }
                lookUp = true;
                try
                {
                    if (existing is null)
                    {
                        await blob.UploadAsync(BinaryData.Empty, new BlobUploadOptions { Metadata = metadata, Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } },
                            cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        await blob.SetMetadataAsync(metadata, new BlobRequestConditions { IfMatch = existing.Value }, cancellationToken).ConfigureAwait(false);
                    }

                    return;
                }
                catch (RequestFailedException e) when (e.Status is 409 or 412) { /* changed under us: re-read */ }
            }
        }
        catch (Exception e) when (StorageFailure.Is(e) || e is OperationCanceledException)
        {
            // Best effort, also when a try timed out or the caller gave up: the record is written, and whatever the caller
            // does next (enqueue, answer) must still run or fail on its own terms.
            _logger.LogWarning(e, "Job {JobId}: could not write its time-index entry ({Status}); listings read the record until the job's final write", record.Id, record.Status);
        }
    }

    private static JobStatus? ParseStatus(IDictionary<string, string> metadata) =>
        metadata.TryGetValue("status", out var text) && TryParseStatus(text, out var status) ? status : null;

    internal static bool TryParseStatus(string? text, out JobStatus status)
    {
        foreach (var value in Enum.GetValues<JobStatus>())
        {
            if (string.Equals(JsonSerializer.Serialize(value, JobsJson.Options).Trim('"'), text, StringComparison.Ordinal))
            {
                status = value;
                return true;
            }
        }
        status = default;
        return false;
    }

    private static JobIndexEntry? ReadIndexEntry(BlobItem item)
    {
        var name = item.Name[TimeIndexPrefix.Length..];
        var dash = name.IndexOf('-', StringComparison.Ordinal);
        if (dash < 0 || item.Metadata is not { } m || ParseStatus(m) is not { } status) return null;
        if (!m.TryGetValue("created_at", out var created) || !DateTimeOffset.TryParse(created, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var createdAt))
            return null;
        DateTimeOffset? completedAt = m.TryGetValue("completed_at", out var c) && DateTimeOffset.TryParse(c, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var ca) ? ca : null;
        var prompts = m.TryGetValue("prompt_count", out var p) && int.TryParse(p, CultureInfo.InvariantCulture, out var n) ? n : 0;
        return new JobIndexEntry(name[(dash + 1)..], status, createdAt, completedAt, prompts);
    }

    private static string InputName(string id) => "_inputs/" + RecordName(id);
    private static string ContentIndexName(string hash) => "_by-content/" + hash + ".json";

    private static async Task<(T Value, ETag ETag)?> ReadAsync<T>(BlobClient blob, CancellationToken cancellationToken)
    {
        try
        {
            var content = await blob.DownloadContentAsync(cancellationToken).ConfigureAwait(false);
            var value = content.Value.Content.ToObjectFromJson<T>(JobsJson.Options)
                ?? throw new InvalidDataException($"Blob {blob.Uri} holds JSON null.");
            return (value, content.Value.Details.ETag);
        }
        catch (RequestFailedException e) when (e.Status == 404) { return null; }
        catch (JsonException e)
        {
            // Name the blob: the serializer's message only gives a JSON path, and whoever reads the log must find the record.
            throw new InvalidDataException($"Blob {blob.BlobContainerName}/{blob.Name} is not a valid {typeof(T).Name}: {e.Message}", e);
        }
    }

    /// <summary>Uploads under a condition; null when the condition failed (412 ConditionNotMet for If-Match, 409
    /// BlobAlreadyExists for If-None-Match: *). Any other 409/412 (a lease, a container being deleted) is a real failure.</summary>
    private static async Task<ETag?> TryUploadAsync<T>(BlobClient blob, T value, BlobRequestConditions conditions, CancellationToken cancellationToken)
    {
        try
        {
            var response = await blob.UploadAsync(
                BinaryData.FromObjectAsJson(value, JobsJson.Options),
                new BlobUploadOptions { Conditions = conditions, HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" } },
                cancellationToken).ConfigureAwait(false);
            return response.Value.ETag;
        }
        catch (RequestFailedException e) when (
            (e.Status == 412 && e.ErrorCode == BlobErrorCode.ConditionNotMet) ||
            (e.Status == 409 && e.ErrorCode == BlobErrorCode.BlobAlreadyExists))
        {
            return null;
        }
    }

    private sealed record ContentIndex(IReadOnlyList<string> JobIds);
}
