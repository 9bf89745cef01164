using Azure;
using Azure.Identity;
using Azure.Storage.Blobs;

namespace Serverless.ModelStore;

/// <summary>Turns storage SDK failures (already retried by the SDK's bounded retry policy) into the store's exception types.</summary>
internal static class StorageErrors
{
    public static ModelStoreException Map(RequestFailedException e, BlobContainerClient container, string? blobPath, IReadOnlyList<string> found) =>
        e.Status switch
        {
            404 when e.ErrorCode == "ContainerNotFound" || blobPath is null => new ModelContainerNotFoundException(container.AccountName, container.Name, e),
            404 => new ModelFileMissingException($"container '{container.Name}' (account '{container.AccountName}')", blobPath, found, e),
            401 or 403 => new ModelAccessDeniedException(container.AccountName, container.Name, e),
            0 => new ModelStoreUnavailableException(
                $"Storage for container '{container.Name}' at {container.Uri.GetLeftPart(UriPartial.Authority)} could not be reached: {FirstLine(e.Message)}.", e),
            412 => new ModelStoreUnavailableException($"The model blob '{blobPath}' changed while it was being downloaded.", e),
            // Client errors other than the ones above (and timeouts, conflicts, throttling) do not go away on a retry.
            400 or 405 or 411 or 413 or 414 or 416 => new ModelStoreRequestRejectedException(
                $"Storage rejected the request for container '{container.Name}' (account '{container.AccountName}') with HTTP {e.Status} " +
                $"{e.ErrorCode}: {FirstLine(e.Message)}. Check the container name and prefix.", e.Status, e.ErrorCode, e),
            _ => new ModelStoreUnavailableException(
                $"Storage request for container '{container.Name}' (account '{container.AccountName}') failed with HTTP {e.Status} {e.ErrorCode}: {FirstLine(e.Message)}.", e),
        };

    /// <summary>Maps anything else a storage call can throw once the SDK gives up; null when it is not a storage failure.</summary>
    public static ModelStoreException? MapOther(Exception e, BlobContainerClient container) => e switch
    {
        ModelStoreException => null,
        AuthenticationFailedException => new ModelAccessDeniedException(container.AccountName, container.Name, e),
        RequestFailedException r => Map(r, container, null, []),
        // The SDK's retry policy gives up with an AggregateException of every attempt's failure: the last one says most.
        AggregateException { InnerExceptions.Count: > 0 } a => MapOther(a.InnerExceptions[^1], container)
            ?? new ModelStoreUnavailableException($"Storage for container '{container.Name}' failed after retries: {a.InnerExceptions[^1].Message}.", e),
        HttpRequestException or System.Net.Sockets.SocketException =>
            new ModelStoreUnavailableException($"Storage for container '{container.Name}' at {container.Uri.GetLeftPart(UriPartial.Authority)} could not be reached: {e.Message}.", e),
        IOException when e.InnerException is HttpRequestException or System.Net.Sockets.SocketException =>
            new ModelStoreUnavailableException($"The connection to storage for container '{container.Name}' broke: {e.Message}.", e),
        _ => null,
    };

    private static string FirstLine(string s) => s.Split('\n', 2)[0].Trim();
}
