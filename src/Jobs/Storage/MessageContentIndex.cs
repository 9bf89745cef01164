using Azure;
using Azure.Storage.Blobs.Models;

namespace Serverless.Jobs.Storage;

/// <summary>
/// Which jobs a queue message's text started, <c>jobs/_by-content/{sha256}.json</c>: the queue extension moves a poisoned
/// message as a new message (new id, same text), so for a message that carries no job id this is how
/// <see cref="PoisonJobHandler"/> finds its job.
/// </summary>
internal sealed class MessageContentIndex(JobContainers containers)
{
    /// <summary>Adds a job id to the index of a message content (idempotent).</summary>
    public async Task AddAsync(string contentHash, string id, CancellationToken cancellationToken)
    {
        await containers.EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        var blob = containers.Jobs.GetBlobClient(Name(contentHash));
        for (var attempt = 1; ; attempt++)
        {
            var current = await JsonBlobs.ReadAsync<ContentIndex>(blob, cancellationToken).ConfigureAwait(false);
            if (current is { } c && c.Value.JobIds.Contains(id)) return;
            var next = new ContentIndex([.. current?.Value.JobIds ?? [], id]);
            var conditions = current is { } cur ? new BlobRequestConditions { IfMatch = cur.ETag } : new BlobRequestConditions { IfNoneMatch = ETag.All };
            if (await JsonBlobs.TryUploadAsync(blob, next, conditions, cancellationToken).ConfigureAwait(false) is not null) return;
            if (attempt >= JsonBlobs.MaxConditionalAttempts) throw new InvalidOperationException($"The content index {contentHash} kept changing; giving up this attempt.");
        }
    }

    public async Task<IReadOnlyList<string>> GetAsync(string contentHash, CancellationToken cancellationToken)
    {
        await containers.EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        return (await JsonBlobs.ReadAsync<ContentIndex>(containers.Jobs.GetBlobClient(Name(contentHash)), cancellationToken).ConfigureAwait(false))?.Value.JobIds ?? [];
    }

    private static string Name(string hash) => "_by-content/" + hash + ".json";

    private sealed record ContentIndex(IReadOnlyList<string> JobIds);
}
