using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Serverless.EndToEnd.Tests.Infrastructure;

namespace Serverless.EndToEnd.Tests.Hosts;

/// <summary>
/// Two local hosts on one storage account, as two Flex Consumption instances: one job queue and one batch queue, one set
/// of containers (all named for this pair alone), one model, each host on its own port with short failover settings
/// (heartbeat 1 s, dead after 5 s, sweep every 1 s) and its own instance id (also the name its batch chunk markers
/// record). Each test starts its own pair and may kill or stop either host.
/// </summary>
public sealed class TwoLocalHosts : IAsyncDisposable
{
    public static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan DeadAfter = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan Sweep = TimeSpan.FromSeconds(1);

    private readonly string _work = Path.Combine(Path.GetTempPath(), "serverless-e2e", "two-hosts-" + Guid.NewGuid().ToString("N"));
    private readonly Dictionary<string, string> _settings = new();

    /// <summary>The pair's <c>OpenAi__ApiKey</c>: what the <c>/v1</c> routes take as <c>Authorization: Bearer</c>.</summary>
    public string OpenAiKey { get; } = "sk-e2e-" + Guid.NewGuid().ToString("N");
    private readonly string _queue = Unique("two-jobs");
    private readonly string _jobs = Unique("two-jobs");
    private readonly string _completions = Unique("two-out");
    private readonly string _models = Unique("two-models");
    private readonly string _batchQueue = Unique("two-batch-work");
    private readonly string _batchFiles = Unique("two-batch-files");
    private readonly string _batches = Unique("two-batches");
    private readonly string _storage = Environment.GetEnvironmentVariable("AzureWebJobsStorage") is { Length: > 0 } s ? s : "UseDevelopmentStorage=true";

    public Host[] Hosts { get; private set; } = [];

    public QueueClient Queue => new QueueServiceClient(_storage).GetQueueClient(_queue);

    public BlobContainerClient JobsContainer => new BlobServiceClient(_storage).GetBlobContainerClient(_jobs);

    /// <summary>Batch records and chunk markers (<c>BatchesContainer</c>).</summary>
    public BlobContainerClient BatchesContainer => new BlobServiceClient(_storage).GetBlobContainerClient(_batches);

    /// <summary>Starts both hosts and waits until each answers HTTP and its queue triggers listen.</summary>
    /// <param name="extra">App settings over the pair's own (e.g. <c>Failover__DrainBudget</c>).</param>
    /// <param name="firstIsFunctionsHost">The first host is the real Azure Functions host (<see cref="FunctionsHostFixture"/>'s,
    /// over this tree's publish) instead of a local host: the two kinds share the queues and the work.</param>
    public static async Task<TwoLocalHosts> StartAsync(IReadOnlyDictionary<string, string>? extra = null, bool firstIsFunctionsHost = false)
    {
        var pair = new TwoLocalHosts();
        try
        {
            await pair.PrepareAsync(extra);
            pair.Hosts = [firstIsFunctionsHost ? await pair.LaunchFunctionsHostAsync("a") : pair.Launch("a"), pair.Launch("b")];
            await Task.WhenAll(pair.Hosts.Select(h => h.WaitUntilReadyAsync()));
            return pair;
        }
        catch
        {
            await pair.DisposeAsync();
            throw;
        }
    }

    private async Task PrepareAsync(IReadOnlyDictionary<string, string>? extra)
    {
        Directory.CreateDirectory(_work);
        var queues = new QueueServiceClient(_storage);
        foreach (var name in new[] { _queue, _queue + "-poison", _batchQueue, _batchQueue + "-poison" }) await queues.GetQueueClient(name).CreateIfNotExistsAsync();
        var cli = Paths.CliDll;
        Assert.True(File.Exists(cli), $"The CLI is not built at {cli}: build the solution (-c Release) first.");
        var upload = Process.Start(new ProcessStartInfo("dotnet", [cli, "model", "upload", Paths.DemoModelDirectory, "--container", _models, "--prefix", "demo/", "--connection", _storage])
        { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = await upload.StandardOutput.ReadToEndAsync() + await upload.StandardError.ReadToEndAsync();
        await upload.WaitForExitAsync();
        Assert.True(upload.ExitCode == 0, "model upload failed: " + output);
        _settings["AzureWebJobsStorage"] = _storage;
        _settings["PromptJobsQueue"] = _queue;
        _settings["JobsContainer"] = _jobs;
        _settings["CompletionsContainer"] = _completions;
        _settings["BatchQueue"] = _batchQueue;
        _settings["BatchFilesContainer"] = _batchFiles;
        _settings["BatchesContainer"] = _batches;
        _settings["Model__Connection"] = "AzureWebJobsStorage";
        // The /v1 routes (files and batches included) take the app's OpenAI key as Bearer, not the function key.
        _settings["OpenAi__ApiKey"] = OpenAiKey;
        _settings["Model__Container"] = _models;
        _settings["Model__Prefix"] = "demo/";
        _settings["Jobs__MaxPromptsPerJob"] = "8";
        _settings["Jobs__ProgressIntervalMilliseconds"] = "250";
        _settings["Failover__HeartbeatInterval"] = Heartbeat.ToString();
        _settings["Failover__DeadAfter"] = DeadAfter.ToString();
        _settings["Failover__SweepInterval"] = Sweep.ToString();
        _settings["AZURE_FUNCTIONS_ENVIRONMENT"] = "Development";
        foreach (var (k, v) in extra ?? new Dictionary<string, string>()) _settings[k] = v;
    }

    private Host Launch(string name)
    {
        var port = FreePort();
        var url = new Uri($"http://127.0.0.1:{port}/");
        var environment = _settings.ToDictionary(kv => kv.Key, kv => (string?)kv.Value);
        var instance = "host-" + name + "-" + Guid.NewGuid().ToString("N")[..6];
        environment["Model__CacheDirectory"] = Path.Combine(_work, "cache-" + name);
        environment["Failover__InstanceId"] = instance;
        environment["Batches__InstanceName"] = instance;
        var process = HostProcess.Start("dotnet", [Paths.LocalHostDll, "--urls", url.ToString().TrimEnd('/')], environment, _work, Path.Combine(_work, $"host-{name}.log"));
        return new Host(name, instance, url, process, OpenAiKey);
    }

    private async Task<Host> LaunchFunctionsHostAsync(string name)
    {
        var app = await PublishedApp.AppDirectoryAsync();
        var hostDirectory = await PublishedApp.HostDirectoryAsync();
        var port = FreePort();
        var url = new Uri($"http://127.0.0.1:{port}/");
        var key = "k" + Guid.NewGuid().ToString("N");
        var environment = _settings.ToDictionary(kv => kv.Key, kv => (string?)kv.Value);
        var instance = "fhost-" + name + "-" + Guid.NewGuid().ToString("N")[..6];
        environment["Model__CacheDirectory"] = Path.Combine(_work, "cache-" + name);
        environment["Failover__InstanceId"] = instance;
        environment["Batches__InstanceName"] = instance;
        environment["FUNCTION_KEY"] = key;
        environment["MASTER_KEY"] = "m" + Guid.NewGuid().ToString("N");
        environment["SECRETS_DIR"] = Path.Combine(_work, "secrets-" + name);
        environment["FUNCTIONS_LOG_PATH"] = Path.Combine(_work, "logs-" + name);
        var process = HostProcess.Start("bash", [Path.Combine(PublishedApp.HostSourceDirectory, "start.sh"), app, port.ToString(System.Globalization.CultureInfo.InvariantCulture), hostDirectory],
            environment, _work, Path.Combine(_work, $"host-{name}.log"));
        var host = new Host(name, instance, url, process, OpenAiKey);
        host.Http.DefaultRequestHeaders.Add("x-functions-key", key);
        return host;
    }

    /// <summary>The stored status record (<c>jobs/{id}.json</c>), lease and attempt log included.</summary>
    public async Task<JsonElement> RecordAsync(string id)
    {
        var content = await JobsContainer.GetBlobClient(id + ".json").DownloadContentAsync();
        using var document = JsonDocument.Parse(content.Value.Content.ToString());
        return document.RootElement.Clone();
    }

    /// <summary>The instance's heartbeat blob (<c>jobs/_instances/{id}</c>: the jobs and batch chunks it holds); null when it has none.</summary>
    public async Task<JsonElement?> HeartbeatAsync(string instanceId)
    {
        try
        {
            var content = await JobsContainer.GetBlobClient("_instances/" + instanceId).DownloadContentAsync();
            using var document = JsonDocument.Parse(content.Value.Content.ToString());
            return document.RootElement.Clone();
        }
        catch (Azure.RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public string Logs() => string.Join("\n", Hosts.Select(h => $"--- host {h.Name} ({h.Process.LogPath}):\n{h.Process.Tail(40)}"));

    public async ValueTask DisposeAsync()
    {
        foreach (var host in Hosts) await host.Process.DisposeAsync();
        try
        {
            var queues = new QueueServiceClient(_storage);
            foreach (var name in new[] { _queue, _queue + "-poison", _batchQueue, _batchQueue + "-poison" }) await queues.GetQueueClient(name).DeleteIfExistsAsync();
            var blobs = new BlobServiceClient(_storage);
            foreach (var name in new[] { _jobs, _completions, _models, _batchFiles, _batches }) await blobs.GetBlobContainerClient(name).DeleteIfExistsAsync();
        }
        catch (Exception)
        {
            // Best effort.
        }
        if (Environment.GetEnvironmentVariable("E2E_KEEP_LOGS") == "1") return;
        try { Directory.Delete(_work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>One host of the pair.</summary>
    public sealed class Host(string name, string instanceId, Uri url, HostProcess process, string openAiKey)
    {
        public string Name { get; } = name;
        public string InstanceId { get; } = instanceId;
        public HostProcess Process { get; } = process;
        public HttpClient Http { get; } = new()
        {
            BaseAddress = url,
            Timeout = TimeSpan.FromSeconds(60),
            DefaultRequestHeaders = { Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", openAiKey) },
        };

        public async Task<string> SubmitAsync(object spec)
        {
            using var response = await Http.PostAsync("api/jobs", HostFixture.Json(spec));
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"submit answered {(int)response.StatusCode}: {body}");
            using var document = JsonDocument.Parse(body);
            return document.RootElement.GetProperty("id").GetString()!;
        }

        public async Task<JsonElement> GetAsync(string id)
        {
            using var response = await Http.GetAsync($"api/jobs/{id}");
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET answered {(int)response.StatusCode}: {body}");
            using var document = JsonDocument.Parse(body);
            return document.RootElement.Clone();
        }

        /// <summary>SIGKILL (no shutdown at all) or SIGTERM (graceful) to the host's process group.</summary>
        public async Task SignalAsync(string signal)
        {
            using var kill = System.Diagnostics.Process.Start("kill", ["-" + signal, "--", "-" + Process.Id])!;
            await kill.WaitForExitAsync();
        }

        /// <summary>Ready when a function answers (the API's own 404 for an unknown job) and the queue triggers have
        /// started (the local host logs it): a job submitted before would wait for a listener that is not there yet.</summary>
        internal async Task WaitUntilReadyAsync()
        {
            var clock = Stopwatch.StartNew();
            var answered = false;
            while (clock.Elapsed < TimeSpan.FromSeconds(180))
            {
                if (Process.HasExited) throw new InvalidOperationException($"Host {Name} exited while starting:\n{Process.Tail()}");
                try
                {
                    if (!answered)
                    {
                        using var response = await Http.GetAsync("api/jobs/e2e-readiness-probe");
                        answered = response.StatusCode == HttpStatusCode.NotFound && response.Content.Headers.ContentType?.MediaType == "application/problem+json";
                    }
                    // The whole log: the real Functions host logs thousands of storage client lines after it.
                    if (answered && Process.Tail(int.MaxValue).Contains(QueueTriggersStarted, StringComparison.Ordinal)) return;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
                await Task.Delay(250);
            }
            throw new TimeoutException($"Host {Name} did not start:\n{Process.Tail()}");
        }

        /// <summary>What the WebJobs SDK logs once every queue listener has started.</summary>
        private const string QueueTriggersStarted = "Job host started";
    }
}
