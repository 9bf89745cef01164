using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Serverless.EndToEnd.Tests.Infrastructure;

namespace Serverless.EndToEnd.Tests.Failover;

/// <summary>
/// Two local hosts on one storage account: one queue, one set of containers, one model, each host on its own port with
/// short failover settings (heartbeat 1 s, dead after 5 s, sweep every 1 s). Each test starts its own pair.
/// </summary>
public sealed class TwoLocalHosts : IAsyncDisposable
{
    public static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan DeadAfter = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan Sweep = TimeSpan.FromSeconds(1);

    private readonly string _work = Path.Combine(Path.GetTempPath(), "serverless-e2e", "failover-" + Guid.NewGuid().ToString("N"));
    private readonly Dictionary<string, string> _settings = new();
    private readonly string _queue = Unique("fo-jobs");
    private readonly string _jobs = Unique("fo-jobs");
    private readonly string _completions = Unique("fo-out");
    private readonly string _models = Unique("fo-models");
    private readonly string _storage = Environment.GetEnvironmentVariable("AzureWebJobsStorage") is { Length: > 0 } s ? s : "UseDevelopmentStorage=true";

    public Host[] Hosts { get; private set; } = [];

    public QueueClient Queue => new QueueServiceClient(_storage).GetQueueClient(_queue);

    public BlobContainerClient JobsContainer => new BlobServiceClient(_storage).GetBlobContainerClient(_jobs);

    public static async Task<TwoLocalHosts> StartAsync(IReadOnlyDictionary<string, string>? extra = null)
    {
        var pair = new TwoLocalHosts();
        try
        {
            await pair.PrepareAsync(extra);
            pair.Hosts = [pair.Launch("a"), pair.Launch("b")];
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
        await new QueueServiceClient(_storage).GetQueueClient(_queue).CreateIfNotExistsAsync();
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
        _settings["Model__Connection"] = "AzureWebJobsStorage";
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
        environment["Model__CacheDirectory"] = Path.Combine(_work, "cache-" + name);
        environment["Failover__InstanceId"] = "host-" + name + "-" + Guid.NewGuid().ToString("N")[..6];
        var process = HostProcess.Start("dotnet", [Paths.LocalHostDll, "--urls", url.ToString().TrimEnd('/')], environment, _work, Path.Combine(_work, $"host-{name}.log"));
        return new Host(name, environment["Failover__InstanceId"]!, url, process);
    }

    /// <summary>The stored status record (<c>jobs/{id}.json</c>), lease and attempt log included.</summary>
    public async Task<JsonElement> RecordAsync(string id)
    {
        var content = await JobsContainer.GetBlobClient(id + ".json").DownloadContentAsync();
        using var document = JsonDocument.Parse(content.Value.Content.ToString());
        return document.RootElement.Clone();
    }

    public string Logs() => string.Join("\n", Hosts.Select(h => $"--- host {h.Name} ({h.Process.LogPath}):\n{h.Process.Tail(40)}"));

    public async ValueTask DisposeAsync()
    {
        foreach (var host in Hosts) await host.Process.DisposeAsync();
        try
        {
            await new QueueServiceClient(_storage).GetQueueClient(_queue).DeleteIfExistsAsync();
            await new QueueServiceClient(_storage).GetQueueClient(_queue + "-poison").DeleteIfExistsAsync();
            var blobs = new BlobServiceClient(_storage);
            foreach (var name in new[] { _jobs, _completions, _models }) await blobs.GetBlobContainerClient(name).DeleteIfExistsAsync();
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
    public sealed class Host(string name, string instanceId, Uri url, HostProcess process)
    {
        public string Name { get; } = name;
        public string InstanceId { get; } = instanceId;
        public HostProcess Process { get; } = process;
        public HttpClient Http { get; } = new() { BaseAddress = url, Timeout = TimeSpan.FromSeconds(60) };

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

        internal async Task WaitUntilReadyAsync()
        {
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(180))
            {
                if (Process.HasExited) throw new InvalidOperationException($"Host {Name} exited while starting:\n{Process.Tail()}");
                try
                {
                    using var response = await Http.GetAsync("api/jobs/e2e-readiness-probe");
                    if (response.StatusCode == HttpStatusCode.NotFound && response.Content.Headers.ContentType?.MediaType == "application/problem+json") return;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
                await Task.Delay(250);
            }
            throw new TimeoutException($"Host {Name} did not start:\n{Process.Tail()}");
        }
    }
}
