using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace Serverless.Jobs.Checkpoints;

/// <summary>
/// Finished parts of a unit of work kept while it runs, so that a retry (after a crash or a scale-in) does only the
/// parts not done: one blob <c>{prefix}{key}.json</c> holding the finished items by index. Whole-blob writes, so a
/// checkpoint is always one consistent set; written by <see cref="CheckpointWriter{T}"/> at most once per interval.
/// Serves jobs (items = prompt results) and batch chunks (items = line results) alike.
/// </summary>
internal sealed class CheckpointStore(BlobContainerClient container, string prefix)
{
    public async Task<IReadOnlyDictionary<int, T>> ReadAsync<T>(string key, CancellationToken cancellationToken)
    {
        try
        {
            var content = await Blob(key).DownloadContentAsync(cancellationToken).ConfigureAwait(false);
            var stored = content.Value.Content.ToObjectFromJson<Stored<T>>(JobsJson.Options);
            return stored?.Items ?? new Dictionary<int, T>();
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return new Dictionary<int, T>();
        }
    }

    public async Task WriteAsync<T>(string key, IReadOnlyDictionary<int, T> items, CancellationToken cancellationToken) =>
        await Blob(key).UploadAsync(BinaryData.FromObjectAsJson(new Stored<T>(items), JobsJson.Options),
            new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" } }, cancellationToken).ConfigureAwait(false);

    /// <summary>Once the work's result is stored for good, its checkpoint is no longer needed.</summary>
    public async Task DeleteAsync(string key, CancellationToken cancellationToken) =>
        await Blob(key).DeleteIfExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);

    private BlobClient Blob(string key) => container.GetBlobClient(prefix + key + ".json");

    private sealed record Stored<T>(IReadOnlyDictionary<int, T> Items);
}
