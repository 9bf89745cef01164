using Azure.Storage.Blobs;

namespace Serverless.Jobs.Tests.Infrastructure;

/// <summary>Real storage from <c>AzureWebJobsStorage</c> (default: Azurite). Unreachable storage fails the test, never skips it.</summary>
internal static class TestStorage
{
    public static string ConnectionString { get; } =
        Environment.GetEnvironmentVariable("AzureWebJobsStorage") is { Length: > 0 } s ? s : "UseDevelopmentStorage=true";

    private static readonly Lazy<Task> Reachable = new(async () =>
    {
        var options = new BlobClientOptions();
        options.Retry.MaxRetries = 0;
        options.Retry.NetworkTimeout = TimeSpan.FromSeconds(5);
        try
        {
            await new BlobServiceClient(ConnectionString, options).GetPropertiesAsync();
        }
        catch (Exception e)
        {
            throw new InvalidOperationException(
                "Storage is unreachable (AzureWebJobsStorage, default Azurite on 127.0.0.1:10000-10002). Start it with scripts/azurite.sh start.", e);
        }
    });

    public static Task EnsureReachableAsync() => Reachable.Value;
}
