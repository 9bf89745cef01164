using Azure.Storage.Queues;
using Microsoft.Extensions.Configuration;
using Serverless.ModelStore;

namespace Serverless.Jobs.Storage;

/// <summary>
/// The queue client from a Functions-style connection setting: a connection string (<c>AzureWebJobsStorage</c>,
/// including <c>UseDevelopmentStorage=true</c>) or identity-based settings (<c>AzureWebJobsStorage__queueServiceUri</c>
/// or <c>__accountName</c>, <c>__credential=managedidentity</c>, <c>__clientId</c>). Blob clients come from the model
/// store's <see cref="ModelStorage.CreateServiceClient"/>, which reads the same settings, and so
/// does the credential.
/// </summary>
internal static class StorageClientFactory
{
    /// <param name="networkTimeout">Of one try; default 30 s. The HTTP submit passes a few seconds (see
    /// <see cref="PromptJobsOptions.HttpStorageCallTimeout"/>).</param>
    public static QueueServiceClient CreateQueueServiceClient(IConfiguration configuration, string connectionName, TimeSpan? networkTimeout = null)
    {
        // Plain text: host.json sets the queue extension's messageEncoding to "none", so what we send is what the
        // trigger (and anyone looking at the queue in Storage Explorer) sees.
        var options = new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None };
        // Bounded retries: the submit waits on this inside an HTTP request; an outage should become a 503 in seconds.
        options.Retry.MaxRetries = 3;
        options.Retry.Mode = Azure.Core.RetryMode.Exponential;
        options.Retry.Delay = TimeSpan.FromMilliseconds(500);
        options.Retry.MaxDelay = TimeSpan.FromSeconds(4);
        options.Retry.NetworkTimeout = networkTimeout ?? TimeSpan.FromSeconds(30);
        var connectionString = configuration[connectionName];
        if (string.IsNullOrWhiteSpace(connectionString)) connectionString = configuration.GetConnectionString(connectionName);
        if (!string.IsNullOrWhiteSpace(connectionString)) return new QueueServiceClient(connectionString, options);

        var section = configuration.GetSection(connectionName);
        var uri = section["queueServiceUri"] is { Length: > 0 } u ? u
            : section["accountName"] is { Length: > 0 } account ? $"https://{account}.queue.core.windows.net"
            : throw new InvalidOperationException(
                $"No storage connection '{connectionName}' for the job queue: set '{connectionName}' to a connection string " +
                $"(UseDevelopmentStorage=true for Azurite), or '{connectionName}__queueServiceUri' (with '{connectionName}__credential=managedidentity' " +
                $"and optionally '{connectionName}__clientId') for an identity-based connection.");
        return new QueueServiceClient(new Uri(uri), ModelStorage.CreateCredential(connectionName, key => configuration[key]), options);
    }

    /// <summary>Blob client options for the HTTP path: a few seconds per try and two retries, so a storage outage becomes
    /// a 503 within <see cref="PromptJobsOptions.HttpTimeBudget"/> instead of the model store's 100 s tries.</summary>
    public static Azure.Storage.Blobs.BlobClientOptions HttpBlobOptions(TimeSpan networkTimeout)
    {
        var options = ModelStorage.CreateClientOptions(maxRetries: 2);
        options.Retry.MaxDelay = TimeSpan.FromSeconds(2);
        options.Retry.NetworkTimeout = networkTimeout;
        return options;
    }
}
