using Azure.Storage.Queues;

namespace Serverless.Functions.Tests.Infrastructure;

/// <summary>The storage the tests use: env <c>AzureWebJobsStorage</c>, default Azurite. Unreachable storage fails the
/// test with what to do; it never skips it.</summary>
internal static class Storage
{
    public static string ConnectionString =>
        Environment.GetEnvironmentVariable("AzureWebJobsStorage") is { Length: > 0 } s ? s : "UseDevelopmentStorage=true";

    /// <summary>Throws unless the queue service answers.</summary>
    public static async Task EnsureReachableAsync(string connectionString)
    {
        var options = new QueueClientOptions();
        options.Retry.MaxRetries = 2;
        options.Retry.NetworkTimeout = TimeSpan.FromSeconds(30); // a busy Azurite on a loaded CI machine answers slowly; a stopped one refuses at once
        try
        {
            await new QueueServiceClient(connectionString, options).GetPropertiesAsync();
        }
        catch (Exception e)
        {
            throw new InvalidOperationException(
                "Storage is unreachable (AzureWebJobsStorage, default Azurite on 127.0.0.1:10000-10002). " +
                "Start it with `scripts/azurite.sh start` or run ./test.sh. " + e.Message, e);
        }
    }

    /// <summary>A name that is unique per fixture and valid for queues and containers (lowercase, digits, hyphens).</summary>
    public static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 13, 50)];
}
