using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Serverless.EndToEnd.Tests.Otlp;

namespace Serverless.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A host this fixture starts as a process on a free port, with its own queue, containers and (empty) model cache on
/// the test storage (env <c>AzureWebJobsStorage</c>, default Azurite), the demo model uploaded first; and stops, by
/// process group, whatever happens. A host that is present but does not start fails the tests.
/// </summary>
public abstract class StartedHostFixture : HostFixture
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(180);
    private readonly string _work = Path.Combine(Path.GetTempPath(), "serverless-e2e", Guid.NewGuid().ToString("N"));
    private HostProcess? _process;

    public const string ModelPrefix = "demo/";
    public const int TestMaxPromptsPerJob = 3;

    /// <summary>Enough prompts that a streamed completion of the tiny model lasts long enough to tell streamed from buffered.</summary>
    public const int TestMaxCompletionPrompts = 16;

    /// <summary>Lines per batch chunk, and the largest batch file, of the hosts the suite starts.</summary>
    public const int TestBatchChunkSize = 10;
    public const long TestMaxBatchFileBytes = 24L * 1024 * 1024;

    /// <summary>The poison-path variant: the model prefix holds nothing, and at most 2 deliveries 1 s apart.</summary>
    protected virtual bool ModelMissing => false;

    public const int ModelMissingMaxDequeueCount = 2;

    protected string WorkDirectory => _work;

    /// <summary>Export traces and metrics over OTLP/HTTP (the standard <c>OTEL_*</c> settings) to a receiver this fixture
    /// runs, <see cref="Otlp"/>, with short export intervals.</summary>
    protected virtual bool ExportTelemetry => false;

    /// <summary>What the host exported, when <see cref="ExportTelemetry"/>; null otherwise.</summary>
    public OtlpReceiver? Otlp { get; private set; }

    private string ModelContainerName { get; } = UniqueName("e2e-models");

    /// <summary>Starts the host on <paramref name="port"/> with these app settings (Functions names, <c>__</c>-separated).</summary>
    protected abstract HostProcess Launch(int port, IReadOnlyDictionary<string, string> appSettings);

    /// <summary>Runs before anything else is set up (e.g. publishing the app).</summary>
    protected virtual Task PrepareAsync() => Task.CompletedTask;

    protected override async Task StartAsync()
    {
        Directory.CreateDirectory(_work);
        await PrepareAsync();
        var storage = Environment.GetEnvironmentVariable("AzureWebJobsStorage") is { Length: > 0 } s ? s : "UseDevelopmentStorage=true";
        StorageConnection = storage;
        QueueName = UniqueName("e2e-jobs");
        JobsContainerName = UniqueName("e2e-jobs");
        CompletionsContainerName = UniqueName("e2e-completions");
        MaxPromptsPerJob = TestMaxPromptsPerJob;
        MaxCompletionPrompts = TestMaxCompletionPrompts;
        BatchQueueName = UniqueName("e2e-batch-work");
        BatchFilesContainerName = UniqueName("e2e-batch-files");
        BatchChunkSize = TestBatchChunkSize;
        MaxBatchFileBytes = TestMaxBatchFileBytes;

        var queues = new QueueServiceClient(storage);
        try
        {
            await queues.GetQueueClient(QueueName).CreateIfNotExistsAsync();
        }
        catch (Exception e)
        {
            throw new InvalidOperationException(
                "Storage is unreachable (AzureWebJobsStorage, default Azurite on 127.0.0.1:10000-10002). Start it with `scripts/azurite.sh start` or run ./test.sh. " + e.Message, e);
        }
        await queues.GetQueueClient(QueueName + "-poison").CreateIfNotExistsAsync();
        await UploadDemoModelAsync(storage); // also for the model-missing variant: the container exists, the prefix is empty

        var settings = new Dictionary<string, string>
        {
            ["AzureWebJobsStorage"] = storage,
            ["PromptJobsQueue"] = QueueName,
            ["JobsContainer"] = JobsContainerName,
            ["CompletionsContainer"] = CompletionsContainerName,
            ["Model__Connection"] = "AzureWebJobsStorage",
            ["Model__Container"] = ModelContainerName,
            ["Model__Prefix"] = ModelMissing ? "not-uploaded/" : ModelPrefix,
            ["Model__CacheDirectory"] = Path.Combine(_work, "model-cache"),
            ["Jobs__MaxPromptsPerJob"] = TestMaxPromptsPerJob.ToString(),
            ["Completions__MaxPrompts"] = TestMaxCompletionPrompts.ToString(),
            ["OpenAi__ApiKey"] = (OpenAiKey = NewKey()) + ";e2e-second-key",
            // Batches: small chunks so a few dozen lines fan out; a file limit just over the 20 MB upload test.
            ["BatchQueue"] = BatchQueueName,
            ["BatchFilesContainer"] = BatchFilesContainerName,
            ["BatchesContainer"] = UniqueName("e2e-batches"),
            ["Batches__ChunkSize"] = TestBatchChunkSize.ToString(),
            ["Batches__MaxFileBytes"] = TestMaxBatchFileBytes.ToString(),
            ["Batches__CancelPollMilliseconds"] = "200",
            ["Callbacks__Secret"] = CallbackSecret = "e2e-" + Guid.NewGuid().ToString("N"),
            // What func start and the Functions host's start.sh say: callbacks may then go to this machine's listeners.
            ["AZURE_FUNCTIONS_ENVIRONMENT"] = "Development",
        };
        if (ModelMissing)
        {
            // Set the way one would on Azure: app settings over host.json.
            settings["AzureFunctionsJobHost__extensions__queues__maxDequeueCount"] = ModelMissingMaxDequeueCount.ToString();
            settings["AzureFunctionsJobHost__extensions__queues__visibilityTimeout"] = "00:00:01";
            settings["AzureFunctionsJobHost__extensions__queues__maxPollingInterval"] = "00:00:01";
            // Submits would otherwise wait for the tokenizer of a model that is not there.
            settings["Jobs__SubmitTokenizerWaitSeconds"] = "1";
        }

        if (ExportTelemetry)
        {
            Otlp = await OtlpReceiver.StartAsync();
            settings["OTEL_EXPORTER_OTLP_ENDPOINT"] = Otlp.Endpoint.ToString().TrimEnd('/');
            settings["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
            // Spans leave within 0.2 s and metrics every second instead of the SDK's 5 s and 60 s.
            settings["OTEL_BSP_SCHEDULE_DELAY"] = "200";
            settings["OTEL_METRIC_EXPORT_INTERVAL"] = "1000";
        }

        var port = FreePort();
        BaseUrl = new Uri($"http://127.0.0.1:{port}/");
        _process = Launch(port, settings);
        await WaitUntilReadyAsync(_process);
    }

    protected override string LogTail() => _process is null ? "" : $"\nThe {Name} host's log ({_process.LogPath}), last lines:\n{_process.Tail(40)}";

    /// <summary>Ready when a function answers: GET /api/jobs/{unknown id} is the API's own 404 problem.</summary>
    private async Task WaitUntilReadyAsync(HostProcess process)
    {
        using var http = new HttpClient { BaseAddress = BaseUrl, Timeout = TimeSpan.FromSeconds(10) };
        if (FunctionKey is not null) http.DefaultRequestHeaders.Add("x-functions-key", FunctionKey);
        var clock = Stopwatch.StartNew();
        var last = "no answer";
        while (clock.Elapsed < StartTimeout)
        {
            if (process.HasExited)
                throw new InvalidOperationException($"The {Name} host exited with code {process.ExitCode} while starting. Its log ({process.LogPath}):\n{process.Tail()}");
            try
            {
                using var response = await http.GetAsync("api/jobs/e2e-readiness-probe");
                last = $"{(int)response.StatusCode} {response.Content.Headers.ContentType}";
                if (response.StatusCode == HttpStatusCode.NotFound && response.Content.Headers.ContentType?.MediaType == "application/problem+json")
                    return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                last = e.Message;
            }
            await Task.Delay(250);
        }
        throw new TimeoutException($"The {Name} host did not answer within {StartTimeout.TotalSeconds} s (last: {last}). Its log ({process.LogPath}):\n{process.Tail()}");
    }

    protected override async Task StopAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
            _process = null;
        }
        if (Otlp is not null)
        {
            await Otlp.DisposeAsync();
            Otlp = null;
        }
        try
        {
            // Leave the shared storage as we found it.
            if (StorageConnection is not null)
            {
                var queues = new QueueServiceClient(StorageConnection);
                var blobs = new BlobServiceClient(StorageConnection);
                if (QueueName is not null)
                {
                    await queues.GetQueueClient(QueueName).DeleteIfExistsAsync();
                    await queues.GetQueueClient(QueueName + "-poison").DeleteIfExistsAsync();
                }
                foreach (var name in new[] { JobsContainerName, CompletionsContainerName, ModelContainerName })
                    if (name is not null) await blobs.GetBlobContainerClient(name).DeleteIfExistsAsync();
            }
        }
        catch (Exception)
        {
            // Cleanup is best effort: storage may be gone already.
        }
        // E2E_KEEP_LOGS=1 keeps the host's log (and model cache) for a look after the run.
        if (Environment.GetEnvironmentVariable("E2E_KEEP_LOGS") == "1") return;
        try { Directory.Delete(_work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>The committed demo model, uploaded the way users do it: the CLI's <c>model upload</c>.</summary>
    private async Task UploadDemoModelAsync(string storage)
    {
        var cli = Paths.CliDll;
        Assert.True(File.Exists(cli), $"The CLI is not built at {cli}: build the solution (-c Release) first.");
        var result = await Run("dotnet", [cli, "model", "upload", Paths.DemoModelDirectory, "--container", ModelContainerName, "--prefix", ModelPrefix, "--connection", storage]);
        Assert.True(result.ExitCode == 0, $"model upload failed ({result.ExitCode}): {result.Output}");
    }

    protected static async Task<(int ExitCode, string Output)> Run(string fileName, IEnumerable<string> arguments, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (workingDirectory is not null) start.WorkingDirectory = workingDirectory;
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>A key in the format start.sh accepts ([A-Za-z0-9_-]{16,}).</summary>
    protected static string NewKey() => "e2e-" + Guid.NewGuid().ToString("N");

    private static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
