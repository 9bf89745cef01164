using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Serverless.Inference.Model;
using Serverless.Jobs.Batches;
using Serverless.Jobs.Batching;
using Serverless.Jobs.Cancellation;
using Serverless.Jobs.Failover;
using Serverless.Jobs.Models;
using Serverless.Jobs.Storage;
using Serverless.ModelStore;

namespace Serverless.Jobs;

public static class JobsServiceCollectionExtensions
{
    /// <summary>
    /// Registers the job pipeline: <see cref="PromptJobsOptions"/> (from <c>PromptJobsQueue</c>, <c>JobsContainer</c>,
    /// <c>CompletionsContainer</c>, <c>Jobs__*</c>, <c>Inference__MaxNewTokensCeiling</c>), the <see cref="StorageConnection"/>
    /// <c>AzureWebJobsStorage</c> (a connection string, or identity-based <c>__blobServiceUri</c>/<c>__queueServiceUri</c>) and
    /// the clients built from it,
    /// the model provider (<c>Model__*</c>; registered only if the host has not registered a <c>ModelProvider&lt;T5Model&gt;</c>),
    /// and <see cref="JobsApi"/>, <see cref="Completions.CompletionsApi"/>, <see cref="Playground.PlaygroundApi"/>, <see cref="Playground.TokenizeApi"/>, <see cref="JobWorker"/>, <see cref="PoisonJobHandler"/> as singletons. Nothing touches
    /// storage until first use.
    /// </summary>
    public static IServiceCollection AddPromptJobs(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddLogging();
        services.TryAddSingleton(TimeProvider.System);
        services.AddJobFailover(configuration); // issue 25: heartbeats, sweeps, job leases (Failover__*)

        // Read once, through the options system, and checked when the host starts (ValidateOnStart): a malformed setting
        // (PromptJobsQueue=q2) stops the host with a message naming it, instead of failing every request as if transient.
        services.AddOptions<PromptJobsOptions>()
            .Configure(options => PromptJobsSettings.Bind(configuration, options))
            // The host's environment, not an app setting (so not in ReadOptions, which lists the app settings).
            .PostConfigure(options => options.Callbacks.Development = IsDevelopment(configuration))
            .ValidateOnStart();
        services.TryAddSingleton(sp => sp.GetRequiredService<IOptions<PromptJobsOptions>>().Value);
        // The job connection, built once: the queue triggers name AzureWebJobsStorage, so the submit writes there too, and
        // the model lives there unless Model__Connection names another. Clients per purpose: the worker's store keeps
        // patient retries; whatever an HTTP request waits on gets short ones.
        services.TryAddSingleton(_ => StorageConnection.FromSettings(PromptJobsOptions.ConnectionName, key => configuration[key]));
        services.TryAddSingleton(sp => ModelProvider.ForT5(key => configuration[key], sp.GetRequiredService<StorageConnection>()));
        services.TryAddSingleton<ModelReadiness>();
        services.TryAddSingleton<IJobModelSource>(sp => new ModelStoreJobModelSource(sp.GetRequiredService<ModelProvider<T5Model>>(), sp.GetRequiredService<ModelReadiness>(),
            sp.GetService<ILogger<ModelStoreJobModelSource>>()));
        AddJobStores(services);
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<PromptJobsOptions>();
            return new JobQueue(sp.GetRequiredService<StorageConnection>().CreateQueueServiceClient(StorageRetry.Http(options.HttpStorageCallTimeout))
                .GetQueueClient(options.QueueName));
        });
        services.TryAddSingleton(sp =>
        {
            // The submit's token count needs config.json and spiece.model, not the whole model: a provider of just
            // those, from the worker's container, cached beside the worker's model (a cache folder holds one file set).
            var worker = sp.GetRequiredService<ModelProvider<T5Model>>();
            var options = ModelStorage.ReadOptions(key => configuration[key]) with { OnlyFiles = SubmitTokenizer.Files, CacheDirectory = worker.CacheDirectory + "-tokenizer" };
            return new ModelProvider<SubmitTokenizer>(worker.Container, options, (directory, _) => SubmitTokenizer.Load(directory));
        });
        services.TryAddSingleton<ITokenizerSource>(sp => new ModelStoreTokenizerSource(sp.GetRequiredService<ModelProvider<SubmitTokenizer>>(), sp.GetRequiredService<ModelReadiness>()));
        services.TryAddSingleton(sp => new PromptLengthChecker(sp.GetRequiredService<ITokenizerSource>(), sp.GetRequiredService<PromptJobsOptions>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<PromptLengthChecker>>()));

        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<PromptJobsOptions>();
            return NewJobsApi(sp, NewContainers(sp, StorageRetry.Http(options.HttpStorageCallTimeout)));
        });
        services.TryAddSingleton(sp => new Callbacks.JobCallbacks(sp.GetRequiredService<JobStore>(), sp.GetRequiredService<PromptJobsOptions>().Callbacks,
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<Callbacks.JobCallbacks>>()));
        services.TryAddSingleton(sp => new JobCancellationWatcher(sp.GetRequiredService<JobStore>(), sp.GetRequiredService<PromptJobsOptions>().CancelPollInterval,
            sp.GetRequiredService<ILogger<JobCancellationWatcher>>()));
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<PromptJobsOptions>();
            // The loop waits in real time: its policy reads the system clock, whatever TimeProvider the jobs use.
            var policy = new BatchPolicy(TimeProvider.System, options.BatchWindow)
            {
                OneJobPerBatch = !options.DynamicBatching,
                PromptsPerBatch = Math.Max(1, options.BatchSize),
            };
            return new PromptScheduler(policy, sp.GetRequiredService<ILogger<PromptScheduler>>());
        });
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<PromptJobsOptions>();
            return new JobWorker(sp.GetRequiredService<JobStore>(), new Specs.MessageSpecReader(sp.GetRequiredService<JobInputStore>(), options), sp.GetRequiredService<JobOutputStore>(),
                sp.GetRequiredService<MessageContentIndex>(), sp.GetRequiredService<Checkpoints.JobCheckpoints>(), sp.GetRequiredService<JobTransitions>(),
                sp.GetRequiredService<IJobModelSource>(), sp.GetRequiredService<JobCancellationWatcher>(), sp.GetRequiredService<PromptScheduler>(),
                sp.GetRequiredService<Failover.JobOwnership>(), options, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<JobWorker>>()); // ownership: issue 25
        });
        services.TryAddSingleton(sp => new JobTransitions(sp.GetRequiredService<JobStore>(), sp.GetRequiredService<JobOutputStore>(), sp.GetRequiredService<Callbacks.JobCallbacks>(),
            sp.GetRequiredService<Failover.JobOwnership>(), sp.GetRequiredService<PromptJobsOptions>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<JobWorker>>()));
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<PromptJobsOptions>();
            var provider = sp.GetRequiredService<ModelProvider<T5Model>>();
            return new HealthApi(sp.GetRequiredService<StorageConnection>().CreateQueueServiceClient(StorageRetry.Http(options.HttpStorageCallTimeout)),
                () => provider.LoadedVersion, options, sp.GetRequiredService<ILogger<HealthApi>>(), sp.GetRequiredService<ModelReadiness>());
        });
        services.TryAddSingleton(sp => new Completions.CompletionsApi(sp.GetRequiredService<IJobModelSource>(), sp.GetRequiredService<PromptScheduler>(), sp.GetRequiredService<PromptJobsOptions>(),
            sp.GetRequiredService<ILogger<Completions.CompletionsApi>>()));
        // One key check for every /v1 route (OpenAI-compatible completions, Files, Batches): Bearer or api-key against OpenAi__ApiKey.
        services.TryAddSingleton(_ => new OpenAi.ApiKeyCheck(ReadOpenAiOptions(configuration), IsDevelopment(configuration)));
        services.TryAddSingleton(sp => new OpenAi.OpenAiApi(sp.GetRequiredService<Completions.CompletionsApi>(), ReadOpenAiOptions(configuration),
            sp.GetRequiredService<OpenAi.ApiKeyCheck>(), sp.GetRequiredService<ILogger<OpenAi.OpenAiApi>>()));
        services.TryAddSingleton(sp => new Playground.PlaygroundApi(sp.GetRequiredService<PromptJobsOptions>()));
        services.TryAddSingleton(sp => new Playground.TokenizeApi(sp.GetRequiredService<ITokenizerSource>(), sp.GetRequiredService<PromptJobsOptions>(),
            sp.GetRequiredService<ILogger<Playground.TokenizeApi>>()));
        services.TryAddSingleton(sp => new PoisonJobHandler(sp.GetRequiredService<JobStore>(), sp.GetRequiredService<MessageContentIndex>(), sp.GetRequiredService<Callbacks.JobCallbacks>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<PoisonJobHandler>>()));
        // OpenAI's Files and Batches API over chunk messages (docs/batches.md).
        services.AddOpenAiBatches(configuration);
        return services;
    }

    /// <summary>The worker's job stores (patient retries), one per seam of the job state over one <see cref="JobContainers"/>:
    /// records, the time index, outputs, spilled inputs, the content index, checkpoints. See docs/serving-core.md.</summary>
    private static void AddJobStores(IServiceCollection services)
    {
        services.TryAddSingleton(sp => NewContainers(sp, StorageRetry.ModelTransfer));
        services.TryAddSingleton(sp => new JobTimeIndex(sp.GetRequiredService<JobContainers>(), sp.GetRequiredService<ILogger<JobTimeIndex>>()));
        services.TryAddSingleton(sp => new JobStore(sp.GetRequiredService<JobContainers>(), sp.GetRequiredService<JobTimeIndex>(), sp.GetRequiredService<ILogger<JobStore>>()));
        services.TryAddSingleton(sp => new JobOutputStore(sp.GetRequiredService<JobContainers>()));
        services.TryAddSingleton(sp => new JobInputStore(sp.GetRequiredService<JobContainers>()));
        services.TryAddSingleton(sp => new MessageContentIndex(sp.GetRequiredService<JobContainers>()));
        services.TryAddSingleton(sp => new Checkpoints.JobCheckpoints(new Checkpoints.CheckpointStore(sp.GetRequiredService<JobContainers>().Jobs, Checkpoints.JobCheckpoints.Prefix),
            sp.GetRequiredService<FailoverOptions>().CheckpointInterval, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<Checkpoints.JobCheckpoints>>()));
    }

    private static JobContainers NewContainers(IServiceProvider services, StorageRetry retry)
    {
        var options = services.GetRequiredService<PromptJobsOptions>();
        var blobs = services.GetRequiredService<StorageConnection>().CreateBlobServiceClient(retry);
        return new JobContainers(blobs.GetBlobContainerClient(options.JobsContainer), blobs.GetBlobContainerClient(options.CompletionsContainer));
    }

    /// <summary>The job API over its own stores on <paramref name="containers"/> (an HTTP request's short retries).</summary>
    internal static JobsApi NewJobsApi(IServiceProvider services, JobContainers containers)
    {
        var index = new JobTimeIndex(containers, services.GetRequiredService<ILogger<JobTimeIndex>>());
        return new JobsApi(new JobStore(containers, index, services.GetRequiredService<ILogger<JobStore>>()), new JobOutputStore(containers), new JobInputStore(containers),
            services.GetRequiredService<JobQueue>(), services.GetRequiredService<PromptLengthChecker>(), services.GetRequiredService<PromptJobsOptions>(),
            services.GetRequiredService<TimeProvider>(), services.GetRequiredService<ILogger<JobsApi>>());
    }

    /// <summary>Reads the options (<see cref="PromptJobsSettings"/>); a setting that is present but malformed throws naming it.</summary>
    public static PromptJobsOptions ReadOptions(IConfiguration configuration)
    {
        var options = new PromptJobsOptions();
        PromptJobsSettings.Bind(configuration, options);
        return options;
    }

    /// <summary>The <c>OpenAi__*</c> settings; the model id is the model's Blob prefix (<c>Model__Prefix</c>) without its slash.</summary>
    public static OpenAi.OpenAiOptions ReadOpenAiOptions(IConfiguration configuration) => new()
    {
        ApiKeys = OpenAi.OpenAiOptions.ParseKeys(configuration["OpenAi:ApiKey"]),
        AllowAnonymous = PromptJobsSettings.Bool(configuration, "OpenAi:AllowAnonymous", false),
        ModelId = ModelStorage.ReadOptions(key => configuration[key]).Prefix.Trim('/'),
    };

    /// <summary>The host's environment: the Functions host passes <c>AZURE_FUNCTIONS_ENVIRONMENT</c> to the worker (Core
    /// Tools and the local test host say Development; Azure says Production or nothing); the local host uses ASP.NET
    /// Core's. Anything but Development is production: callbacks to public https addresses only.</summary>
    private static bool IsDevelopment(IConfiguration configuration) =>
        new[] { "AZURE_FUNCTIONS_ENVIRONMENT", "ASPNETCORE_ENVIRONMENT", "DOTNET_ENVIRONMENT" }
            .Select(key => configuration[key]).FirstOrDefault(v => !string.IsNullOrEmpty(v)) is { } name &&
        string.Equals(name, "Development", StringComparison.OrdinalIgnoreCase);
}
