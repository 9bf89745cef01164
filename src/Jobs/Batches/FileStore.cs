using System.Globalization;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Serverless.Jobs.Storage;

namespace Serverless.Jobs.Batches;

/// <summary>
/// Files of the Files API: one block blob per file in the files container, named by its id, with its file object's fields
/// as metadata (so a listing is one List Blobs call per page). Output and error files are staged into while their batch
/// runs and appear (committed) when it finalizes: uncommitted blobs are not listed and cannot be read.
/// </summary>
internal sealed class FileStore
{
    private readonly BlobContainerClient _container;
    private readonly OnceAsync _ensureCreated;

    public FileStore(BlobContainerClient container)
    {
        _container = container;
        _ensureCreated = new OnceAsync(async ct => await _container.CreateIfNotExistsAsync(cancellationToken: ct).ConfigureAwait(false));
    }

    public BlobContainerClient Container => _container;

    public Task EnsureCreatedAsync(CancellationToken cancellationToken) => _ensureCreated.RunAsync(cancellationToken);

    public BlockBlobClient Blob(string id) => _container.GetBlockBlobClient(id);

    public async Task<BatchFile> UploadAsync(string id, Stream content, string filename, string purpose, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        var file = new BatchFile(id, content.Length, now.ToUnixTimeSeconds(), filename, purpose);
        await _container.GetBlobClient(id).UploadAsync(content, new BlobUploadOptions
        {
            HttpHeaders = new BlobHttpHeaders { ContentType = "application/jsonl" },
            Metadata = Metadata(file),
            Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All },
        }, cancellationToken).ConfigureAwait(false);
        return file;
    }

    /// <summary>Commits a staged output or error file: the blocks in order, with its file object as metadata.</summary>
    public async Task<BatchFile> CommitAsync(string id, IReadOnlyList<string> blockIds, string filename, string purpose, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var blob = _container.GetBlockBlobClient(id);
        var metadata = Metadata(new BatchFile(id, 0, now.ToUnixTimeSeconds(), filename, purpose));
        var committed = await blob.CommitBlockListAsync(blockIds, new CommitBlockListOptions
        {
            HttpHeaders = new BlobHttpHeaders { ContentType = "application/jsonl" },
            Metadata = metadata,
        }, cancellationToken).ConfigureAwait(false);
        var properties = await blob.GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        return FromMetadata(id, properties.Value.ContentLength, properties.Value.Metadata);
    }

    public async Task<BatchFile?> GetAsync(string id, CancellationToken cancellationToken)
    {
        if (!BatchIds.IsFileId(id)) return null;
        await EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var properties = await _container.GetBlobClient(id).GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            return FromMetadata(id, properties.Value.ContentLength, properties.Value.Metadata);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public async Task<Stream?> OpenReadAsync(string id, CancellationToken cancellationToken)
    {
        if (!BatchIds.IsFileId(id)) return null;
        try
        {
            var download = await _container.GetBlobClient(id).DownloadStreamingAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            return download.Value.Content;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public async Task<bool> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        if (!BatchIds.IsFileId(id)) return false;
        await EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        var deleted = await _container.GetBlobClient(id).DeleteIfExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        return deleted.Value;
    }

    /// <summary>Newest first, optionally of one purpose, after the id <paramref name="after"/>.</summary>
    public async Task<List<BatchFile>> ListAsync(string? purpose, string? after, int limit, CancellationToken cancellationToken)
    {
        await EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        var files = new List<BatchFile>();
        await foreach (var item in _container.GetBlobsAsync(new GetBlobsOptions { Prefix = BatchIds.FilePrefix, Traits = BlobTraits.Metadata }, cancellationToken)
            .ConfigureAwait(false))
        {
            if (after is not null && string.CompareOrdinal(item.Name, after) <= 0) continue;
            if (!item.Metadata.ContainsKey("purpose")) continue;
            var file = FromMetadata(item.Name, item.Properties.ContentLength ?? 0, item.Metadata);
            if (purpose is not null && file.Purpose != purpose) continue;
            files.Add(file);
            if (files.Count > limit) break;
        }
        return files;
    }

    private static Dictionary<string, string> Metadata(BatchFile file) => new()
    {
        ["purpose"] = file.Purpose,
        ["filename"] = Uri.EscapeDataString(file.Filename),
        ["created_at"] = file.CreatedAt.ToString(CultureInfo.InvariantCulture),
    };

    private static BatchFile FromMetadata(string id, long bytes, IDictionary<string, string> metadata) => new(
        id, bytes,
        metadata.TryGetValue("created_at", out var created) ? long.Parse(created, CultureInfo.InvariantCulture) : 0,
        metadata.TryGetValue("filename", out var name) ? Uri.UnescapeDataString(name) : id,
        metadata.TryGetValue("purpose", out var purpose) ? purpose : "batch");
}
