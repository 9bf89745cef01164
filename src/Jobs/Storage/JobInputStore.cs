using Azure;
using Azure.Storage.Blobs.Models;

namespace Serverless.Jobs.Storage;

/// <summary>Job specs too large for a queue message (over <see cref="PromptJobsOptions.MaxInlineMessageBytes"/>),
/// <c>jobs/_inputs/{id}.json</c>: the submit writes one, the message then carries only the id, the worker reads it.</summary>
internal sealed class JobInputStore(JobContainers containers)
{
    public async Task WriteAsync(string id, string specJson, CancellationToken cancellationToken)
    {
        await containers.EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        await containers.Jobs.GetBlobClient(Name(id)).UploadAsync(BinaryData.FromString(specJson),
            new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" } }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The spec as written; null if there is none.</summary>
    public async Task<string?> ReadAsync(string id, CancellationToken cancellationToken)
    {
        await containers.EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var content = await containers.Jobs.GetBlobClient(Name(id)).DownloadContentAsync(cancellationToken).ConfigureAwait(false);
            return content.Value.Content.ToString();
        }
        catch (RequestFailedException e) when (e.Status == 404) { return null; }
    }

    // Names under '_' cannot collide with records: ids never contain '/' or '.'.
    private static string Name(string id) => "_inputs/" + JobStore.RecordName(id);
}
