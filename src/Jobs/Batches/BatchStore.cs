using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Serverless.Jobs.Storage;

namespace Serverless.Jobs.Batches;

/// <summary>
/// Batch records <c>{id}.json</c> in the batches container, every change an If-Match write of the version read (a lost
/// race costs one 412 and a re-read, never a lost update), and the chunk markers <c>{id}/chunks/{index:D7}</c>, each
/// written once (If-None-Match: *): the marker that won says which staged blocks hold the chunk's lines.
/// </summary>
internal sealed class BatchStore
{
    private const int MaxConditionalAttempts = 32;
    private readonly BlobContainerClient _container;
    private readonly OnceAsync _ensureCreated;

    public BatchStore(BlobContainerClient container)
    {
        _container = container;
        _ensureCreated = new OnceAsync(async ct => await _container.CreateIfNotExistsAsync(cancellationToken: ct).ConfigureAwait(false));
    }

    public BlobContainerClient Container => _container;

    public async Task<(BatchRecord Record, ETag ETag)?> GetAsync(string id, CancellationToken cancellationToken)
    {
        if (!BatchIds.IsBatchId(id)) return null;
        await _ensureCreated.RunAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var download = await _container.GetBlobClient(id + ".json").DownloadContentAsync(cancellationToken).ConfigureAwait(false);
            return (download.Value.Content.ToObjectFromJson<BatchRecord>(BatchJson.Options)!, download.Value.Details.ETag);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public async Task CreateAsync(BatchRecord record, CancellationToken cancellationToken)
    {
        await _ensureCreated.RunAsync(cancellationToken).ConfigureAwait(false);
        await _container.GetBlobClient(record.Id + ".json").UploadAsync(BinaryData.FromObjectAsJson(record, BatchJson.Options),
            new BlobUploadOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Applies <paramref name="change"/> to the current record under If-Match, re-reading and re-applying after a
    /// lost race. <paramref name="change"/> returns null to leave the record as it is. Returns the record as it ends and
    /// whether this call wrote it; null if there is no such batch.</summary>
    public async Task<(BatchRecord Record, bool Changed)?> UpdateAsync(string id, Func<BatchRecord, BatchRecord?> change, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < MaxConditionalAttempts; attempt++)
        {
            if (await GetAsync(id, cancellationToken).ConfigureAwait(false) is not { } current) return null;
            var next = change(current.Record);
            if (next is null) return (current.Record, false);
            try
            {
                await _container.GetBlobClient(id + ".json").UploadAsync(BinaryData.FromObjectAsJson(next, BatchJson.Options),
                    new BlobUploadOptions { Conditions = new BlobRequestConditions { IfMatch = current.ETag } }, cancellationToken).ConfigureAwait(false);
                return (next, true);
            }
            catch (RequestFailedException e) when (e.Status == 412)
            {
                // Another instance wrote first: apply the change to its version.
            }
        }
        throw new InvalidOperationException($"Batch {id}'s record changed {MaxConditionalAttempts} times while one update was applied; try again.");
    }

    /// <summary>Newest first (ids sort by creation time, newest first), from <paramref name="after"/> on.</summary>
    public async Task<List<BatchRecord>> ListAsync(string? after, int limit, CancellationToken cancellationToken)
    {
        await _ensureCreated.RunAsync(cancellationToken).ConfigureAwait(false);
        var records = new List<BatchRecord>();
        await foreach (var item in _container.GetBlobsAsync(new GetBlobsOptions { Prefix = BatchIds.BatchPrefix }, cancellationToken).ConfigureAwait(false))
        {
            if (!item.Name.EndsWith(".json", StringComparison.Ordinal)) continue;
            var id = item.Name[..^5];
            if (after is not null && string.CompareOrdinal(id, after) <= 0) continue;
            if (await GetAsync(id, cancellationToken).ConfigureAwait(false) is { } r) records.Add(r.Record);
            if (records.Count > limit) break;
        }
        return records;
    }

    private static string MarkerName(string batchId, int chunk) => $"{batchId}/chunks/{chunk:D7}";

    /// <summary>Writes a chunk's marker once; if one is there already (a redelivery, or a second instance that ran the same
    /// chunk), the one that won is returned and this one is dropped.</summary>
    public async Task<ChunkMarker> WriteMarkerOnceAsync(string batchId, ChunkMarker marker, CancellationToken cancellationToken)
    {
        var blob = _container.GetBlobClient(MarkerName(batchId, marker.Chunk));
        try
        {
            await blob.UploadAsync(BinaryData.FromObjectAsJson(marker, BatchJson.Options), new BlobUploadOptions
            {
                Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All },
                Metadata = marker.ToMetadata(),
            }, cancellationToken).ConfigureAwait(false);
            return marker;
        }
        catch (RequestFailedException e) when (e.Status == 409)
        {
            var existing = await blob.DownloadContentAsync(cancellationToken).ConfigureAwait(false);
            return existing.Value.Content.ToObjectFromJson<ChunkMarker>(BatchJson.Options)!;
        }
    }

    /// <summary>All markers of a batch, in chunk order, from one listing (metadata included) per 5,000 chunks.</summary>
    public async Task<List<ChunkMarker>> ListMarkersAsync(string batchId, CancellationToken cancellationToken)
    {
        var markers = new List<ChunkMarker>();
        await foreach (var item in _container.GetBlobsAsync(new GetBlobsOptions { Prefix = batchId + "/chunks/", Traits = BlobTraits.Metadata }, cancellationToken)
            .ConfigureAwait(false))
        {
            markers.Add(ChunkMarker.FromMetadata(item.Metadata));
        }
        markers.Sort((a, b) => a.Chunk.CompareTo(b.Chunk));
        return markers;
    }

    public async Task DeleteAsync(string batchId, CancellationToken cancellationToken)
    {
        await _container.GetBlobClient(batchId + ".json").DeleteIfExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>What one chunk came to, recorded once: the run's <see cref="Nonce"/> names the blocks it staged into the output
/// and error blobs (so only the winning run's blocks are committed), its counts, and the instance that ran it.</summary>
/// <param name="Expired">Lines of <see cref="Failed"/> not run because the batch's completion window ended first
/// (<c>batch_expired</c>): a batch with any ends <c>expired</c>.</param>
public sealed record ChunkMarker(int Chunk, string Nonce, int Completed, int Failed, bool HasOutput, bool HasErrors, string Instance, bool Skipped, int Expired = 0)
{
    internal IDictionary<string, string> ToMetadata() => new Dictionary<string, string>
    {
        ["chunk"] = Chunk.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["nonce"] = Nonce,
        ["completed"] = Completed.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["failed"] = Failed.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["output"] = HasOutput ? "1" : "0",
        ["errors"] = HasErrors ? "1" : "0",
        ["instance"] = Instance,
        ["skipped"] = Skipped ? "1" : "0",
        ["expired"] = Expired.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    internal static ChunkMarker FromMetadata(IDictionary<string, string> m) => new(
        int.Parse(m["chunk"], System.Globalization.CultureInfo.InvariantCulture), m["nonce"],
        int.Parse(m["completed"], System.Globalization.CultureInfo.InvariantCulture), int.Parse(m["failed"], System.Globalization.CultureInfo.InvariantCulture),
        m["output"] == "1", m["errors"] == "1", m["instance"], m["skipped"] == "1",
        m.TryGetValue("expired", out var expired) ? int.Parse(expired, System.Globalization.CultureInfo.InvariantCulture) : 0);

    /// <summary>The block id of this run's lines in the output or error blob: the same length for every chunk (Blob Storage
    /// requires it within a blob), unique per run.</summary>
    public string BlockId(string kind) => Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes($"{kind[0]}{Chunk:D7}-{Nonce}"));
}
