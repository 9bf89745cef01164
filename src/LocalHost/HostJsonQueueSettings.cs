using Azure.Storage.Queues;
using Microsoft.Azure.WebJobs.Host;
using Microsoft.Extensions.Configuration;

namespace Serverless.LocalHost;

/// <summary>
/// The queue settings of <c>host.json</c> (<c>extensions.queues</c>), read the way the Functions host reads them: the
/// file, then app settings named <c>AzureFunctionsJobHost__extensions__queues__*</c> over it.
/// </summary>
public sealed record HostJsonQueueSettings(
    int BatchSize,
    int NewBatchThreshold,
    int MaxDequeueCount,
    TimeSpan VisibilityTimeout,
    TimeSpan MaxPollingInterval,
    QueueMessageEncoding MessageEncoding)
{
    private const string Section = "extensions:queues";

    /// <summary>Reads <paramref name="hostJsonPath"/> and applies the overrides found in <paramref name="appSettings"/>.</summary>
    public static HostJsonQueueSettings Read(string hostJsonPath, IConfiguration appSettings)
    {
        if (!File.Exists(hostJsonPath))
        {
            throw new FileNotFoundException(
                $"host.json not found at '{hostJsonPath}'. The local host uses the repository's root host.json; build the project so it is copied beside the host.",
                hostJsonPath);
        }

        var overrides = appSettings.GetSection("AzureFunctionsJobHost").AsEnumerable(makePathsRelative: true)
            .Where(kv => kv.Value is not null);
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(hostJsonPath, optional: false, reloadOnChange: false)
            .AddInMemoryCollection(overrides)
            .Build();
        return From(configuration.GetSection(Section));
    }

    /// <summary>Missing values take the queue extension's own defaults, except messageEncoding, which must be "none"
    /// here: people drop plain-text prompts into the queue.</summary>
    internal static HostJsonQueueSettings From(IConfigurationSection queues)
    {
        var defaults = new QueuesOptions();
        var encodingText = queues["messageEncoding"];
        var encoding = encodingText is null ? defaults.MessageEncoding
            : Enum.TryParse<QueueMessageEncoding>(encodingText, ignoreCase: true, out var parsed) ? parsed
            : throw new InvalidOperationException($"host.json extensions.queues.messageEncoding '{encodingText}' is neither 'none' nor 'base64'.");
        return new HostJsonQueueSettings(
            queues.GetValue("batchSize", defaults.BatchSize),
            queues.GetValue("newBatchThreshold", defaults.NewBatchThreshold),
            queues.GetValue("maxDequeueCount", defaults.MaxDequeueCount),
            queues.GetValue("visibilityTimeout", defaults.VisibilityTimeout),
            queues.GetValue("maxPollingInterval", defaults.MaxPollingInterval),
            encoding);
    }

    public void ApplyTo(QueuesOptions options)
    {
        options.BatchSize = BatchSize;
        options.NewBatchThreshold = NewBatchThreshold;
        options.MaxDequeueCount = MaxDequeueCount;
        options.VisibilityTimeout = VisibilityTimeout;
        options.MaxPollingInterval = MaxPollingInterval;
        options.MessageEncoding = MessageEncoding;
    }
}
