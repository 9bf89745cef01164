using Azure.Storage.Blobs;

namespace Serverless.Jobs.Tests.Infrastructure;

/// <summary>Real storage from <c>AzureWebJobsStorage</c> (default: Azurite). Unreachable storage fails the test, never skips it.</summary>
internal static class TestStorage
{
    public static string ConnectionString { get; } =
        Environment.GetEnvironmentVariable("AzureWebJobsStorage") is { Length: > 0 } s ? s : "UseDevelopmentStorage=true";

    private static readonly BlobServiceClient Probe = CreateProbe();

    private static BlobServiceClient CreateProbe()
    {
        // A refused connection fails at once; the generous timeout only covers an Azurite busy under a loaded CI machine.
        var options = new BlobClientOptions();
        options.Retry.MaxRetries = 1;
        options.Retry.NetworkTimeout = TimeSpan.FromSeconds(30);
        return new BlobServiceClient(ConnectionString, options);
    }

    public static async Task EnsureReachableAsync()
    {
        try
        {
            await Probe.GetPropertiesAsync();
        }
        catch (Exception e)
        {
            throw new InvalidOperationException(
                "Storage is unreachable (AzureWebJobsStorage, default Azurite on 127.0.0.1:10000-10002). Start it with scripts/azurite.sh start.", e);
        }
    }
}
