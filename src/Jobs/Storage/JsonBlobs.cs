using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace Serverless.Jobs.Storage;

/// <summary>JSON documents in blobs, read with their ETag and written under a condition: what the job stores share.</summary>
internal static class JsonBlobs
{
    /// <summary>Read-modify-write loops give up after this many lost races (the caller's attempt fails and is retried).</summary>
    public const int MaxConditionalAttempts = 16;

    /// <summary>The document and its ETag; null if the blob does not exist.</summary>
    public static async Task<(T Value, ETag ETag)?> ReadAsync<T>(BlobClient blob, CancellationToken cancellationToken)
    {
        try
        {
            var content = await blob.DownloadContentAsync(cancellationToken).ConfigureAwait(false);
            var value = content.Value.Content.ToObjectFromJson<T>(JobsJson.Options)
                ?? throw new InvalidDataException($"Blob {blob.Uri} holds JSON null.");
            return (value, content.Value.Details.ETag);
        }
        catch (RequestFailedException e) when (e.Status == 404) { return null; }
        catch (JsonException e)
        {
            // Name the blob: the serializer's message only gives a JSON path, and whoever reads the log must find the record.
            throw new InvalidDataException($"Blob {blob.BlobContainerName}/{blob.Name} is not a valid {typeof(T).Name}: {e.Message}", e);
        }
    }

    /// <summary>Uploads under a condition; null when the condition failed (412 ConditionNotMet for If-Match, 409
    /// BlobAlreadyExists for If-None-Match: *). Any other 409/412 (a lease, a container being deleted) is a real failure.</summary>
    public static async Task<ETag?> TryUploadAsync<T>(BlobClient blob, T value, BlobRequestConditions conditions, CancellationToken cancellationToken)
    {
        try
        {
            var response = await blob.UploadAsync(
                BinaryData.FromObjectAsJson(value, JobsJson.Options),
                new BlobUploadOptions { Conditions = conditions, HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" } },
                cancellationToken).ConfigureAwait(false);
            return response.Value.ETag;
        }
        catch (RequestFailedException e) when (
            (e.Status == 412 && e.ErrorCode == BlobErrorCode.ConditionNotMet) ||
            (e.Status == 409 && e.ErrorCode == BlobErrorCode.BlobAlreadyExists))
        {
            return null;
        }
    }
}
