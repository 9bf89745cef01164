using Azure.Storage.Blobs;

namespace Serverless.Jobs.Storage;

/// <summary>
/// The two containers the job stores share: <c>jobs</c> (status records, the time index, spilled inputs, the content
/// index, checkpoints, heartbeats) and <c>completions</c> (outputs). Created if missing once per instance of this type,
/// before the first request of any store built over it.
/// </summary>
internal sealed class JobContainers
{
    private readonly OnceAsync _ensureCreated;

    public JobContainers(BlobContainerClient jobs, BlobContainerClient completions)
    {
        Jobs = jobs;
        Completions = completions;
        _ensureCreated = new OnceAsync(async ct =>
        {
            await jobs.CreateIfNotExistsAsync(cancellationToken: ct).ConfigureAwait(false);
            await completions.CreateIfNotExistsAsync(cancellationToken: ct).ConfigureAwait(false);
        });
    }

    public BlobContainerClient Jobs { get; }
    public BlobContainerClient Completions { get; }

    /// <summary>Creates the containers if missing, once per process.</summary>
    public Task EnsureCreatedAsync(CancellationToken cancellationToken) => _ensureCreated.RunAsync(cancellationToken);
}
