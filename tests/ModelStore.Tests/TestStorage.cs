using System.Collections.Concurrent;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Storage.Blobs;

namespace Serverless.ModelStore.Tests;

/// <summary>
/// Real storage (Azurite or an account) from <c>AzureWebJobsStorage</c>; every test gets its own container, and a
/// policy that records every request the SDK sends. Tests fail, never skip, when storage is unreachable.
/// </summary>
internal sealed class TestStorage : IAsyncDisposable
{
    public static string ConnectionString =>
        Environment.GetEnvironmentVariable("AzureWebJobsStorage") is { Length: > 0 } s ? s : "UseDevelopmentStorage=true";

    public RequestRecorder Requests { get; } = new();
    public BlobServiceClient Service { get; }
    public BlobContainerClient Container { get; }
    public string CacheRoot { get; }

    public TestStorage(int maxRetries = 3)
    {
        var options = (StorageRetry.ModelTransfer with { MaxRetries = maxRetries }).BlobOptions();
        options.AddPolicy(Requests, HttpPipelinePosition.PerRetry);
        Service = new BlobServiceClient(ConnectionString, options);
        Container = Service.GetBlobContainerClient("ms-" + Guid.NewGuid().ToString("N")[..20]);
        CacheRoot = Path.Combine(Path.GetTempPath(), "modelstore-tests", Guid.NewGuid().ToString("N"));
    }

    public string NewCacheDirectory() => Path.Combine(CacheRoot, Guid.NewGuid().ToString("N")[..8]);

    public async ValueTask DisposeAsync()
    {
        try { await Container.DeleteIfExistsAsync(); } catch (Exception) { /* best effort: the container name is unique */ }
        try { Directory.Delete(CacheRoot, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Records method, blob path and range of every request sent (each retry counts).</summary>
internal sealed class RequestRecorder : HttpPipelineSynchronousPolicy
{
    private readonly ConcurrentQueue<(string Method, string Path, string Query, string? Range)> _requests = new();

    public override void OnSendingRequest(HttpMessage message)
    {
        var uri = message.Request.Uri.ToUri();
        message.Request.Headers.TryGetValue("x-ms-range", out var range);
        if (range is null) message.Request.Headers.TryGetValue("Range", out range);
        _requests.Enqueue((message.Request.Method.ToString(), Uri.UnescapeDataString(uri.AbsolutePath), uri.Query, range));
    }

    public void Clear() => _requests.Clear();

    public int Count => _requests.Count;

    /// <summary>GETs of blob content (not listings or properties) whose blob path ends with <paramref name="blobName"/>.</summary>
    public IReadOnlyList<string?> ContentGets(string blobName) => _requests
        .Where(r => r.Method == "GET" && !r.Query.Contains("comp=") && !r.Query.Contains("restype=") && r.Path.EndsWith("/" + blobName, StringComparison.Ordinal))
        .Select(r => r.Range).ToList();

    /// <summary>Content GETs that start a download (the first range, or no range).</summary>
    public int DownloadsStarted(string blobName) => ContentGets(blobName).Count(r => r is null || r.StartsWith("bytes=0-", StringComparison.Ordinal));

    /// <summary>All content GETs of any blob.</summary>
    public int AllContentGets => _requests.Count(r => r.Method == "GET" && !r.Query.Contains("comp=") && !r.Query.Contains("restype="));
}
