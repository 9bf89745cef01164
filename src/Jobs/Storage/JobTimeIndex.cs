using System.Globalization;
using System.Text.Json;
using Azure;
using Azure.Storage.Blobs.Models;
using Microsoft.Extensions.Logging;

namespace Serverless.Jobs.Storage;

/// <summary>
/// The time index <c>jobs/_by-time/{DateTimeOffset.MaxValue ticks - created ticks, 19 digits}-{id}</c>: an empty blob per
/// job whose metadata holds its status, times and prompt count, so a listing by prefix returns the newest jobs first, one
/// List Blobs call per page. <see cref="JobStore"/> writes an entry twice, when the job is created and when it ends (best
/// effort; the record stays the truth): a listing takes a finished job from its entry alone and reads the record of any
/// other, so running jobs show as running without a third write per job, and a missed write shows nothing stale.
/// </summary>
internal sealed class JobTimeIndex(JobContainers containers, ILogger logger)
{
    internal const string Prefix = "_by-time/";

    internal static string Name(string id, DateTimeOffset createdAt) =>
        Prefix + (DateTimeOffset.MaxValue.UtcTicks - createdAt.UtcTicks).ToString("D19", CultureInfo.InvariantCulture) + "-" + JobStore.RecordName(id)[..^".json".Length];

    /// <summary>One List Blobs call: up to <paramref name="size"/> entries from <paramref name="continuation"/>, newest first.</summary>
    public async Task<(JobIndexEntry[] Entries, string? Continuation)> ReadPageAsync(string? continuation, int size, CancellationToken cancellationToken)
    {
        await containers.EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        var pages = containers.Jobs.GetBlobsAsync(new GetBlobsOptions { Prefix = Prefix, Traits = BlobTraits.Metadata }, cancellationToken).AsPages(continuation, size);
        await foreach (var page in pages.ConfigureAwait(false))
            return ([.. page.Values.Select(ReadEntry).OfType<JobIndexEntry>()], string.IsNullOrEmpty(page.ContinuationToken) ? null : page.ContinuationToken);
        return ([], null);
    }

    /// <summary>Upserts the job's entry unless it already shows a later status (the index, like the record, never goes
    /// backwards). Best effort. The first try needs no HEAD: a record just created has no entry yet (If-None-Match: *),
    /// and a final status overwrites whatever the entry shows (a record ends once, so only one final write is made; an
    /// earlier status is all it can replace). Only a missing entry or a lost race falls back to HEAD and compare.</summary>
    public async Task WriteAsync(JobRecord record, bool isNew, CancellationToken cancellationToken)
    {
        var blob = containers.Jobs.GetBlobClient(Name(record.Id, record.CreatedAt));
        var metadata = Metadata(record);
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
            for (var attempt = 1; attempt <= JsonBlobs.MaxConditionalAttempts; attempt++)
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
            logger.LogWarning(e, "Job {JobId}: could not write its time-index entry ({Status}); listings read the record until the job's final write", record.Id, record.Status);
        }
    }

    private static Dictionary<string, string> Metadata(JobRecord record)
    {
        var metadata = new Dictionary<string, string>
        {
            ["status"] = StatusName(record.Status),
            ["created_at"] = record.CreatedAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
            ["prompt_count"] = record.PromptCount.ToString(CultureInfo.InvariantCulture),
        };
        if (record.CompletedAt is { } completed) metadata["completed_at"] = completed.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);
        return metadata;
    }

    private static string StatusName(JobStatus status) => JsonSerializer.Serialize(status, JobsJson.Options).Trim('"');

    private static JobStatus? ParseStatus(IDictionary<string, string> metadata) =>
        metadata.TryGetValue("status", out var text) && TryParseStatus(text, out var status) ? status : null;

    /// <summary>A status by its wire name (<c>queued</c>, <c>running</c>, …), as the index and <c>GET /api/jobs?status=</c> spell it.</summary>
    internal static bool TryParseStatus(string? text, out JobStatus status)
    {
        foreach (var value in Enum.GetValues<JobStatus>())
        {
            if (string.Equals(StatusName(value), text, StringComparison.Ordinal))
            {
                status = value;
                return true;
            }
        }
        status = default;
        return false;
    }

    private static JobIndexEntry? ReadEntry(BlobItem item)
    {
        var name = item.Name[Prefix.Length..];
        var dash = name.IndexOf('-', StringComparison.Ordinal);
        if (dash < 0 || item.Metadata is not { } m || ParseStatus(m) is not { } status) return null;
        if (!m.TryGetValue("created_at", out var created) || !DateTimeOffset.TryParse(created, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var createdAt))
            return null;
        DateTimeOffset? completedAt = m.TryGetValue("completed_at", out var c) && DateTimeOffset.TryParse(c, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var ca) ? ca : null;
        var prompts = m.TryGetValue("prompt_count", out var p) && int.TryParse(p, CultureInfo.InvariantCulture, out var n) ? n : 0;
        return new JobIndexEntry(name[(dash + 1)..], status, createdAt, completedAt, prompts);
    }
}
