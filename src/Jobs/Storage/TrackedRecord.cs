using Azure;

namespace Serverless.Jobs.Storage;

/// <summary>
/// A job's status record as this process last read or wrote it, with its ETag. A worker keeps one per job: <see cref="JobStore.UpdateAsync(TrackedRecord, Func{JobRecord?, JobRecord?}, CancellationToken)"/>
/// then starts from that version under an If-Match instead of reading the record first, so the running, progress and final
/// writes cost one request each; a version someone else has replaced since costs one 412 and a read, never a wrong write.
/// The cancellation watcher compares a record's ETag with it to tell the worker's own writes from anyone else's.
/// </summary>
internal sealed class TrackedRecord(string id)
{
    // One immutable pair behind a volatile reference: the watcher reads it from its own loop while the worker writes.
    private volatile Version? _version;

    public string Id { get; } = id;

    /// <summary>The record as last seen (null if there was none, or nothing has been read yet).</summary>
    public JobRecord? Record => _version?.Record;

    /// <summary>The record's ETag as last seen; null if nothing has been read or written yet, or there was no record.</summary>
    public ETag? ETag => _version?.ETag;

    internal Version? Current => _version;

    internal void Set(JobRecord? record, ETag? etag) => _version = new Version(record, etag);

    /// <summary>A record and its ETag (both null: there was no record).</summary>
    internal sealed record Version(JobRecord? Record, ETag? ETag);
}
