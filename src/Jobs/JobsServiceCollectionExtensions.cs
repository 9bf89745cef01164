using System.Globalization;
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
            .Configure(options =>
            {
                ReadInto(options, configuration);
                // The host's environment, not an app setting (so not in ReadOptions, which lists the app settings).
                options.Callbacks.Development = IsDevelopment(configuration);
            })
            .ValidateOnStart();
        services.TryAddSingleton(sp => sp.GetRequiredService<IOptions<PromptJobsOptions>>().Value);
        // The job connection, built once: the queue triggers name AzureWebJobsStorage, so the submit writes there too, and
        // the model lives there unless Model__Connection names another. Clients per purpose: the worker's store keeps
        // patient retries; whatever an HTTP request waits on gets short ones.
        services.TryAddSingleton(_ => StorageConnection.FromSettings(PromptJobsOptions.ConnectionName, key => configuration[key]));
        services.TryAddSingleton(sp => ModelProvider.ForT5(key => configuration[key], sp.GetRequiredService<StorageConnection>()));
        services.TryAddSingleton<ModelReadiness>();
        services.TryAddSingleton<IJobModelSource>(sp => new ModelStoreJobModelSource(sp.GetRequiredService<ModelProvider<T5Model>>(), sp.GetRequiredService<ModelReadiness>(),
            sp.GetRequiredService<ILogger<ModelStoreJobModelSource>>()));
        services.TryAddSingleton(sp => NewStore(sp, StorageRetry.ModelTransfer));
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
            return new JobsApi(NewStore(sp, StorageRetry.Http(options.HttpStorageCallTimeout)), sp.GetRequiredService<JobQueue>(),
                sp.GetRequiredService<PromptLengthChecker>(), options, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<JobsApi>>());
        });
        services.TryAddSingleton(sp => new Callbacks.JobCallbacks(sp.GetRequiredService<JobStore>(), sp.GetRequiredService<PromptJobsOptions>().Callbacks,
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<Callbacks.JobCallbacks>>()));
        services.TryAddSingleton(sp => new JobCancellationWatcher(sp.GetRequiredService<JobStore>(), sp.GetRequiredService<PromptJobsOptions>().CancelPollInterval,
            sp.GetRequiredService<ILogger<JobCancellationWatcher>>()));
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<PromptJobsOptions>();
            // The loop waits in real time: its policy reads the system clock, whatever TimeProvider the jobs use.
            var policy = new BatchPolicy(TimeProvider.System, TimeSpan.FromMilliseconds(options.BatchWindowMs))
            {
                OneJobPerBatch = !options.DynamicBatching,
                PromptsPerBatch = Math.Max(1, options.BatchSize),
            };
            return new PromptScheduler(policy, sp.GetRequiredService<ILogger<PromptScheduler>>());
        });
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<PromptJobsOptions>();
            return new JobWorker(sp.GetRequiredService<JobStore>(), sp.GetRequiredService<IJobModelSource>(), sp.GetRequiredService<JobCancellationWatcher>(),
                sp.GetRequiredService<Callbacks.JobCallbacks>(), options,
                sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<JobWorker>>(), sp.GetRequiredService<PromptScheduler>(),
                sp.GetRequiredService<Failover.JobOwnership>()); // issue 25
        });
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<PromptJobsOptions>();
            var provider = sp.GetRequiredService<ModelProvider<T5Model>>();
            return new HealthApi(sp.GetRequiredService<StorageConnection>().CreateQueueServiceClient(StorageRetry.Http(options.HttpStorageCallTimeout)),
                () => provider.LoadedVersion, options, sp.GetRequiredService<ILogger<HealthApi>>(), sp.GetRequiredService<ModelReadiness>());
        });
        services.TryAddSingleton(sp => new Completions.CompletionsApi(sp.GetRequiredService<IJobModelSource>(), sp.GetRequiredService<PromptScheduler>(), sp.GetRequiredService<PromptJobsOptions>(),
            sp.GetRequiredService<ILogger<Completions.CompletionsApi>>()));
        services.TryAddSingleton(sp => new OpenAi.OpenAiApi(sp.GetRequiredService<Completions.CompletionsApi>(), ReadOpenAiOptions(configuration),
            IsDevelopment(configuration), sp.GetRequiredService<ILogger<OpenAi.OpenAiApi>>()));
        services.TryAddSingleton(sp => new Playground.PlaygroundApi(sp.GetRequiredService<PromptJobsOptions>()));
        services.TryAddSingleton(sp => new Playground.TokenizeApi(sp.GetRequiredService<ITokenizerSource>(), sp.GetRequiredService<PromptJobsOptions>(),
            sp.GetRequiredService<ILogger<Playground.TokenizeApi>>()));
        services.TryAddSingleton(sp => new PoisonJobHandler(sp.GetRequiredService<JobStore>(), sp.GetRequiredService<Callbacks.JobCallbacks>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<PoisonJobHandler>>()));
        // OpenAI's Files and Batches API over chunk messages (docs/batches.md).
        services.AddOpenAiBatches(configuration);
        return services;
    }

    private static JobStore NewStore(IServiceProvider services, StorageRetry retry)
    {
        var options = services.GetRequiredService<PromptJobsOptions>();
        var blobs = services.GetRequiredService<StorageConnection>().CreateBlobServiceClient(retry);
        return new JobStore(blobs.GetBlobContainerClient(options.JobsContainer), blobs.GetBlobContainerClient(options.CompletionsContainer),
            services.GetRequiredService<ILogger<JobStore>>());
    }

    /// <summary>Reads the options; a setting that is present but malformed throws naming it.</summary>
    public static PromptJobsOptions ReadOptions(IConfiguration configuration)
    {
        var options = new PromptJobsOptions();
        ReadInto(options, configuration);
        return options;
    }

    private static void ReadInto(PromptJobsOptions options, IConfiguration configuration)
    {
        // The poison queue's name is this one plus "-poison": keep room for it within Azure's 63 characters.
        options.QueueName = StorageName(configuration, "PromptJobsQueue", options.QueueName, "queue", 63 - "-poison".Length);
        options.JobsContainer = StorageName(configuration, "JobsContainer", options.JobsContainer, "blob container", 63);
        options.CompletionsContainer = StorageName(configuration, "CompletionsContainer", options.CompletionsContainer, "blob container", 63);
        options.MaxPromptsPerJob = Int(configuration, "Jobs:MaxPromptsPerJob", options.MaxPromptsPerJob, 1);
        options.MaxRequestBodyBytes = Int(configuration, "Jobs:MaxRequestBodyBytes", options.MaxRequestBodyBytes, 1024);
        options.BatchSize = Int(configuration, "Jobs:BatchSize", options.BatchSize, 1);
        options.DynamicBatching = Bool(configuration, "Jobs:DynamicBatching", options.DynamicBatching);
        options.BatchWindowMs = Int(configuration, "Jobs:BatchWindowMs", options.BatchWindowMs, 0);
        options.RetryAfterSeconds = Int(configuration, "Jobs:RetryAfterSeconds", options.RetryAfterSeconds, 1);
        options.MaxInlineMessageBytes = Int(configuration, "Jobs:MaxInlineMessageBytes", options.MaxInlineMessageBytes, 256);
        options.SubmitTokenizerWaitSeconds = Double(configuration, "Jobs:SubmitTokenizerWaitSeconds", options.SubmitTokenizerWaitSeconds);
        options.ModelRetryAfterSeconds = Double(configuration, "Jobs:ModelRetryAfterSeconds", options.ModelRetryAfterSeconds);
        options.CancelPollInterval = TimeSpan.FromMilliseconds(Int(configuration, "Jobs:CancelPollMilliseconds", (int)options.CancelPollInterval.TotalMilliseconds, 50));
        options.ProgressInterval = TimeSpan.FromMilliseconds(Int(configuration, "Jobs:ProgressIntervalMilliseconds", (int)options.ProgressInterval.TotalMilliseconds, 0));
        options.MaxNewTokensCeiling = Int(configuration, "Inference:MaxNewTokensCeiling", options.MaxNewTokensCeiling, 1);
        options.Completions.MaxPrompts = Int(configuration, "Completions:MaxPrompts", options.Completions.MaxPrompts, 1);
        options.Completions.MaxNewTokens = Int(configuration, "Completions:MaxNewTokens", options.Completions.MaxNewTokens, 1);
        options.Completions.MaxRequestBodyBytes = Int(configuration, "Completions:MaxRequestBodyBytes", options.Completions.MaxRequestBodyBytes, 1024);
        options.Completions.TimeBudgetSeconds = Double(configuration, "Completions:TimeBudgetSeconds", options.Completions.TimeBudgetSeconds);
        options.Callbacks.Secret = configuration["Callbacks:Secret"] ?? "";
        options.Callbacks.MaxAttempts = Int(configuration, "Callbacks:MaxAttempts", options.Callbacks.MaxAttempts, 1);
        options.Callbacks.TimeoutSeconds = Double(configuration, "Callbacks:TimeoutSeconds", options.Callbacks.TimeoutSeconds);
        options.Callbacks.RetryDelayMilliseconds = Int(configuration, "Callbacks:RetryDelayMilliseconds", options.Callbacks.RetryDelayMilliseconds, 0);
        options.Telemetry.IncludeText = Bool(configuration, "Telemetry:IncludeText", options.Telemetry.IncludeText);
    }

    /// <summary>
    /// A queue or container name as Azure Storage accepts it: 3 to <paramref name="maxLength"/> lowercase letters, digits
    /// or hyphens, starting and ending with a letter or digit, no two hyphens in a row. Storage would refuse any other
    /// name on every call (400 InvalidResourceName), so it is a configuration error, reported once at start-up.
    /// </summary>
    private static string StorageName(IConfiguration configuration, string key, string fallback, string kind, int maxLength)
    {
        var text = configuration[key];
        if (string.IsNullOrEmpty(text)) return fallback;
        var valid = text.Length >= 3 && text.Length <= maxLength && char.IsAsciiLetterOrDigit(text[0]) && char.IsAsciiLetterOrDigit(text[^1]) &&
            !text.Contains("--", StringComparison.Ordinal) && text.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-');
        return valid
            ? text
            : throw new FormatException($"Setting {key} must be a {kind} name of 3 to {maxLength} lowercase letters, digits or hyphens, " +
                $"starting and ending with a letter or digit, with no two hyphens in a row (Azure Storage's rule), not '{text}'.");
    }

    /// <summary>The <c>OpenAi__*</c> settings; the model id is the model's Blob prefix (<c>Model__Prefix</c>) without its slash.</summary>
    public static OpenAi.OpenAiOptions ReadOpenAiOptions(IConfiguration configuration) => new()
    {
        ApiKeys = OpenAi.OpenAiOptions.ParseKeys(configuration["OpenAi:ApiKey"]),
        AllowAnonymous = Bool(configuration, "OpenAi:AllowAnonymous", false),
        ModelId = ModelStorage.ReadOptions(key => configuration[key]).Prefix.Trim('/'),
    };

    /// <summary>The host's environment: the Functions host passes <c>AZURE_FUNCTIONS_ENVIRONMENT</c> to the worker (Core
    /// Tools and the local test host say Development; Azure says Production or nothing); the local host uses ASP.NET
    /// Core's. Anything but Development is production: callbacks to public https addresses only.</summary>
    private static bool IsDevelopment(IConfiguration configuration) =>
        new[] { "AZURE_FUNCTIONS_ENVIRONMENT", "ASPNETCORE_ENVIRONMENT", "DOTNET_ENVIRONMENT" }
            .Select(key => configuration[key]).FirstOrDefault(v => !string.IsNullOrEmpty(v)) is { } name &&
        string.Equals(name, "Development", StringComparison.OrdinalIgnoreCase);

    private static int Int(IConfiguration configuration, string key, int fallback, int min)
    {
        var text = configuration[key];
        if (string.IsNullOrWhiteSpace(text)) return fallback;
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min
            ? value
            : throw new FormatException($"Setting {key.Replace(":", "__")} must be an integer of at least {min}, not '{text}'.");
    }

    private static bool Bool(IConfiguration configuration, string key, bool fallback)
    {
        var text = configuration[key];
        if (string.IsNullOrWhiteSpace(text)) return fallback;
        return bool.TryParse(text.Trim(), out var value)
            ? value
            : throw new FormatException($"Setting {key.Replace(":", "__")} must be true or false, not '{text}'.");
    }

    private static double Double(IConfiguration configuration, string key, double fallback)
    {
        var text = configuration[key];
        if (string.IsNullOrWhiteSpace(text)) return fallback;
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value >= 0
            ? value
            : throw new FormatException($"Setting {key.Replace(":", "__")} must be a non-negative number, not '{text}'.");
    }
}
