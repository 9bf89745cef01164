using Azure.Core;
using Azure.Storage.Blobs;

namespace Serverless.ModelStore;

/// <summary>
/// A retry policy for storage clients, one per purpose: <see cref="Http(TimeSpan)"/> on anything an HTTP request waits
/// on, <see cref="ModelTransfer"/> for the model's large downloads and uploads (and the worker's own job store), and
/// <see cref="CommandLine"/> for the CLI's queue. Applied by <see cref="StorageConnection"/>.
/// </summary>
/// <param name="NetworkTimeout">Of one try.</param>
public sealed record StorageRetry(int MaxRetries, TimeSpan Delay, TimeSpan MaxDelay, TimeSpan NetworkTimeout)
{
    /// <summary>Patient: a 200 MB graph needs long tries, and nobody is waiting on an open request.</summary>
    public static StorageRetry ModelTransfer { get; } = new(3, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(100));

    /// <summary>A command line should fail within seconds when the endpoint is wrong, not after minutes of retries.</summary>
    public static StorageRetry CommandLine { get; } = new(2, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(30));

    /// <summary>Short tries and two retries, so that a storage outage becomes a 503 within the request's time budget
    /// (the caller bounds the total with its own token) instead of the model store's 100 s tries.</summary>
    public static StorageRetry Http(TimeSpan tryTimeout) => new(2, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(2), tryTimeout);

    /// <summary>Blob client options with this policy.</summary>
    public BlobClientOptions BlobOptions()
    {
        var options = new BlobClientOptions();
        ApplyTo(options.Retry);
        return options;
    }

    internal void ApplyTo(RetryOptions retry)
    {
        retry.Mode = RetryMode.Exponential;
        retry.MaxRetries = MaxRetries;
        retry.Delay = Delay;
        retry.MaxDelay = MaxDelay;
        retry.NetworkTimeout = NetworkTimeout;
    }
}
