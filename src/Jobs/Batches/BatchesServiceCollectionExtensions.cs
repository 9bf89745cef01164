using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Serverless.Jobs.Models;
using Serverless.ModelStore;

namespace Serverless.Jobs.Batches;

public static class BatchesServiceCollectionExtensions
{
    /// <summary>
    /// Registers the Files and Batches API: <see cref="BatchOptions"/> (<c>BatchFilesContainer</c>, <c>BatchesContainer</c>,
    /// <c>BatchQueue</c>, <c>Batches__*</c>), <see cref="FilesApi"/>, <see cref="BatchesApi"/>, <see cref="BatchWorker"/> and the
    /// <see cref="IBatchLineRunner"/> (the engine's, unless the host registered another first). Needs
    /// <see cref="JobsServiceCollectionExtensions.AddPromptJobs"/>'s connection and model source.
    /// </summary>
    public static IServiceCollection AddOpenAiBatches(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.TryAddSingleton(_ => ReadOptions(configuration));
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<BatchOptions>();
            var blobs = sp.GetRequiredService<StorageConnection>().CreateBlobServiceClient(StorageRetry.Http(sp.GetRequiredService<PromptJobsOptions>().HttpStorageCallTimeout));
            return new FileStore(blobs.GetBlobContainerClient(options.FilesContainer));
        });
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<BatchOptions>();
            var blobs = sp.GetRequiredService<StorageConnection>().CreateBlobServiceClient(StorageRetry.Http(sp.GetRequiredService<PromptJobsOptions>().HttpStorageCallTimeout));
            return new BatchStore(blobs.GetBlobContainerClient(options.BatchesContainer));
        });
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<BatchOptions>();
            return new BatchQueue(sp.GetRequiredService<StorageConnection>()
                .CreateQueueServiceClient(StorageRetry.Http(sp.GetRequiredService<PromptJobsOptions>().HttpStorageCallTimeout)).GetQueueClient(options.QueueName));
        });
        services.TryAddSingleton<IBatchLineRunner>(sp => new EngineBatchLineRunner(sp.GetRequiredService<IJobModelSource>(), sp.GetRequiredService<Batching.PromptScheduler>(), sp.GetRequiredService<BatchOptions>(),
            sp.GetRequiredService<PromptJobsOptions>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton(sp => new FilesApi(sp.GetRequiredService<FileStore>(), sp.GetRequiredService<BatchOptions>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<OpenAi.ApiKeyCheck>(), sp.GetRequiredService<ILogger<FilesApi>>()));
        services.TryAddSingleton(sp => new BatchesApi(sp.GetRequiredService<BatchStore>(), sp.GetRequiredService<FileStore>(), sp.GetRequiredService<BatchQueue>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<OpenAi.ApiKeyCheck>(), sp.GetRequiredService<ILogger<BatchesApi>>()));
        services.TryAddSingleton(sp => new BatchWorker(sp.GetRequiredService<BatchStore>(), sp.GetRequiredService<FileStore>(), sp.GetRequiredService<BatchQueue>(),
            sp.GetRequiredService<StorageConnection>().CreateBlobServiceClient(StorageRetry.ModelTransfer), sp.GetRequiredService<IBatchLineRunner>(),
            sp.GetRequiredService<BatchOptions>(), InstanceName(configuration), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<BatchWorker>>(),
            sp.GetService<Failover.FailoverOptions>() is { Enabled: true } ? sp.GetService<Failover.InstanceHeartbeat>() : null));
        return services;
    }

    /// <summary>The instance chunk markers name: <c>Batches__InstanceName</c>, else Azure's <c>WEBSITE_INSTANCE_ID</c>,
    /// else machine and process.</summary>
    private static string InstanceName(IConfiguration configuration) =>
        configuration["Batches:InstanceName"] is { Length: > 0 } name ? name
        : configuration["WEBSITE_INSTANCE_ID"] is { Length: > 0 } id ? id
        : $"{Environment.MachineName}:{Environment.ProcessId}";

    public static BatchOptions ReadOptions(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = new BatchOptions();
        if (configuration["BatchFilesContainer"] is { Length: > 0 } files) options.FilesContainer = files;
        if (configuration["BatchesContainer"] is { Length: > 0 } batches) options.BatchesContainer = batches;
        if (configuration["BatchQueue"] is { Length: > 0 } queue) options.QueueName = queue;
        options.MaxFileBytes = Long(configuration, "Batches:MaxFileBytes", options.MaxFileBytes, 1);
        options.MaxLines = (int)Long(configuration, "Batches:MaxLines", options.MaxLines, 1);
        options.ChunkSize = (int)Long(configuration, "Batches:ChunkSize", options.ChunkSize, 1);
        options.LineConcurrency = (int)Long(configuration, "Batches:LineConcurrency", options.LineConcurrency, 1);
        options.DefaultMaxTokens = (int)Long(configuration, "Batches:DefaultMaxTokens", options.DefaultMaxTokens, 1);
        options.CancelPollInterval = TimeSpan.FromMilliseconds(Long(configuration, "Batches:CancelPollMilliseconds", (long)options.CancelPollInterval.TotalMilliseconds, 50));
        if (configuration["Batches:CompletionWindow"] is { Length: > 0 } window)
        {
            options.CompletionWindow = TimeSpan.TryParse(window, CultureInfo.InvariantCulture, out var parsed) && parsed > TimeSpan.Zero
                ? parsed
                : throw new FormatException($"Setting Batches__CompletionWindow must be a positive time span such as 1.00:00:00 (24 h), not '{window}'.");
        }
        return options;
    }

    private static long Long(IConfiguration configuration, string key, long fallback, long min)
    {
        var text = configuration[key];
        if (string.IsNullOrWhiteSpace(text)) return fallback;
        return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= int.MaxValue * 100L
            ? value
            : throw new FormatException($"Setting {key.Replace(":", "__")} must be an integer of at least {min}, not '{text}'.");
    }
}
