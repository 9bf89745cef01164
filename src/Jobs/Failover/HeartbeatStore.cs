using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace Serverless.Jobs.Failover;

/// <summary>
/// Heartbeat blobs <c>jobs/_instances/{instance id}</c>, one per live instance: its body lists the jobs the instance
/// holds; its Last-Modified is the last sign of life. Age is measured on storage's clock alone (the listing's own
/// <c>Date</c> header minus Last-Modified), so instances with skewed clocks never judge each other.
/// </summary>
internal sealed class HeartbeatStore(BlobContainerClient jobs)
{
    public const string Prefix = "_instances/";

    /// <summary>Writes the heartbeat under the ETag of the previous one (none: must not exist). Null when the condition
    /// failed: a sweep declared this instance dead and deleted it (or someone else wrote it).</summary>
    public async Task<ETag?> WriteAsync(string instanceId, Heartbeat beat, ETag? previous, CancellationToken cancellationToken)
    {
        var conditions = previous is { } etag ? new BlobRequestConditions { IfMatch = etag } : new BlobRequestConditions { IfNoneMatch = ETag.All };
        try
        {
            var response = await Blob(instanceId).UploadAsync(BinaryData.FromObjectAsJson(beat, JobsJson.Options),
                new BlobUploadOptions { Conditions = conditions }, cancellationToken).ConfigureAwait(false);
            return response.Value.ETag;
        }
        catch (RequestFailedException e) when (e.Status is 404 or 409 or 412)
        {
            return null;
        }
    }

    /// <summary>Every heartbeat with its age by storage's clock (one List Blobs call per 5,000 instances).</summary>
    public async Task<IReadOnlyList<HeartbeatAge>> ListAsync(CancellationToken cancellationToken)
    {
        var found = new List<HeartbeatAge>();
        await foreach (var page in jobs.GetBlobsAsync(new GetBlobsOptions { Prefix = Prefix }, cancellationToken).AsPages().ConfigureAwait(false))
        {
            var now = page.GetRawResponse().Headers.Date ?? DateTimeOffset.UtcNow;
            foreach (var item in page.Values)
            {
                if (item.Properties.LastModified is not { } modified || item.Properties.ETag is not { } etag) continue;
                found.Add(new HeartbeatAge(item.Name[Prefix.Length..], now - modified, etag));
            }
        }
        return found;
    }

    /// <summary>One instance's heartbeat age by storage's clock; null when it has none (never written, or deleted by a
    /// sweep after its jobs were handed back): such an instance holds nothing.</summary>
    public async Task<TimeSpan?> GetAgeAsync(string instanceId, CancellationToken cancellationToken)
    {
        try
        {
            var response = await Blob(instanceId).GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            var now = response.GetRawResponse().Headers.Date ?? DateTimeOffset.UtcNow;
            return now - response.Value.LastModified;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    /// <summary>The heartbeat's body as of <paramref name="etag"/>; null if it changed since (the instance is alive) or is gone.</summary>
    public async Task<Heartbeat?> ReadAsync(string instanceId, ETag etag, CancellationToken cancellationToken)
    {
        try
        {
            var content = await Blob(instanceId).DownloadContentAsync(new BlobDownloadOptions { Conditions = new BlobRequestConditions { IfMatch = etag } },
                cancellationToken).ConfigureAwait(false);
            return content.Value.Content.ToObjectFromJson<Heartbeat>(JobsJson.Options);
        }
        catch (RequestFailedException e) when (e.Status is 404 or 412)
        {
            return null;
        }
    }

    /// <summary>Deletes a dead instance's heartbeat once its jobs are handed back, unless it was renewed since.</summary>
    public async Task DeleteAsync(string instanceId, ETag etag, CancellationToken cancellationToken)
    {
        try
        {
            await Blob(instanceId).DeleteAsync(conditions: new BlobRequestConditions { IfMatch = etag }, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.Status is 404 or 412)
        {
        }
    }

    private BlobClient Blob(string instanceId) => jobs.GetBlobClient(Prefix + instanceId);
}

/// <summary>A heartbeat's body: the jobs the instance holds (running, or fetched and waiting for a decode batch), and the
/// batch chunk messages it is running (their text, sent again as is if the instance dies: a chunk that runs twice is
/// answered once).</summary>
internal sealed record Heartbeat(string Instance, DateTimeOffset At, IReadOnlyList<string> Jobs, IReadOnlyList<string>? Chunks = null);

/// <summary>A heartbeat as listed: how long ago (storage's clock) it was last written.</summary>
internal sealed record HeartbeatAge(string Instance, TimeSpan Age, ETag ETag);
