using Azure;
using Azure.Storage.Blobs.Models;

namespace Serverless.Jobs.Storage;

/// <summary>A job's output, <c>completions/{id}.json</c>: written once (If-None-Match: *), so a job is answered once
/// however many attempts finish it; deleted only for a job that ended cancelled.</summary>
internal sealed class JobOutputStore(JobContainers containers)
{
    /// <summary>Writes the output once; false if it already exists — a duplicate, not an error.</summary>
    public async Task<bool> WriteAsync(JobOutput output, CancellationToken cancellationToken)
    {
        await containers.EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        return await JsonBlobs.TryUploadAsync(containers.Completions.GetBlobClient(JobStore.RecordName(output.Id)), output,
            new BlobRequestConditions { IfNoneMatch = ETag.All }, cancellationToken).ConfigureAwait(false) is not null;
    }

    public async Task<JobOutput?> GetAsync(string id, CancellationToken cancellationToken)
    {
        await containers.EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        return (await JsonBlobs.ReadAsync<JobOutput>(containers.Completions.GetBlobClient(JobStore.RecordName(id)), cancellationToken).ConfigureAwait(false))?.Value;
    }

    /// <summary>Deletes the output of a job that ended cancelled (if any).</summary>
    public async Task DeleteAsync(string id, CancellationToken cancellationToken)
    {
        await containers.EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        await containers.Completions.GetBlobClient(JobStore.RecordName(id)).DeleteIfExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
    }
}
