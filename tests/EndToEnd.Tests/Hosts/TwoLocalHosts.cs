using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Serverless.EndToEnd.Tests.Infrastructure;

namespace Serverless.EndToEnd.Tests.Hosts;

/// <summary>Two local hosts on one Azurite: the same app settings (queues, containers, model), different ports and
/// <c>Batches__InstanceName</c> ("first", "second"). Requests go to the first; both take work from the queues.</summary>
public sealed class TwoLocalHostsFixture : LocalHostFixture
{
    private HostProcess? _second;

    public override string Name => "two-local";

    public string BatchesContainerName { get; private set; } = null!;

    protected override HostProcess Launch(int port, IReadOnlyDictionary<string, string> appSettings)
    {
        BatchesContainerName = appSettings["BatchesContainer"];
        // Each instance holds few messages at once (as a busy Flex instance's scheduler would want), so neither takes the
        // whole queue in one fetch.
        var settings = new Dictionary<string, string>(appSettings)
        {
            ["AzureFunctionsJobHost__extensions__queues__batchSize"] = "2",
            ["AzureFunctionsJobHost__extensions__queues__newBatchThreshold"] = "1",
        };
        var first = base.Launch(port, new Dictionary<string, string>(settings) { ["Batches__InstanceName"] = "first" });
        var environment = settings.ToDictionary(kv => kv.Key, kv => (string?)kv.Value);
        environment["Batches__InstanceName"] = "second";
        environment["LocalHost__FunctionKey"] = FunctionKey;
        var secondPort = FreePort();
        _second = HostProcess.Start("dotnet", [Paths.LocalHostDll, "--urls", $"http://127.0.0.1:{secondPort}"], environment, WorkDirectory,
            Path.Combine(WorkDirectory, "second-host.log"));
        SecondUrl = new Uri($"http://127.0.0.1:{secondPort}/");
        return first;
    }

    public Uri SecondUrl { get; private set; } = null!;

    public string SecondLogTail() => _second?.Tail(40) ?? "";

    protected override async Task StopAsync()
    {
        if (_second is not null) await _second.DisposeAsync();
        await base.StopAsync();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>One batch fanned out over two instances: both run chunks (the chunk markers name the instance that ran them),
/// and every custom_id is answered exactly once.</summary>
public sealed class TwoInstanceBatchTests(TwoLocalHostsFixture host) : IClassFixture<TwoLocalHostsFixture>
{
    [Fact]
    public async Task A_batch_spreads_over_two_instances_and_answers_every_custom_id_exactly_once()
    {
        using (var health = new HttpClient { BaseAddress = host.SecondUrl })
        {
            var clock = Stopwatch.StartNew();
            while (true)
            {
                try
                {
                    if ((await health.GetAsync("api/health")).StatusCode is HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable) break;
                }
                catch (HttpRequestException) when (clock.Elapsed < TimeSpan.FromSeconds(60))
                {
                }
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"The second host did not start:\n{host.SecondLogTail()}");
                await Task.Delay(250);
            }
        }

        var ids = Enumerable.Range(0, 30 * StartedHostFixture.TestBatchChunkSize).Select(i => $"two-{i}").ToList();
        var jsonl = string.Join('\n', ids.Select(id => JsonSerializer.Serialize(new
        {
            custom_id = id,
            method = "POST",
            url = "/v1/completions",
            body = new { prompt = $"Where is Ganymede? {id}", max_tokens = 16 },
        })));
        using var form = new MultipartFormDataContent { { new StringContent("batch"), "purpose" }, { new StringContent(jsonl), "file", "two.jsonl" } };
        // The /v1 routes take the app's OpenAI key (Bearer), not the function key.
        using var http = new HttpClient { BaseAddress = host.BaseUrl };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", host.OpenAiKey);
        using var upload = await http.PostAsync("api/v1/files", form);
        var fileId = JsonDocument.Parse(await upload.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString();
        using var create = await http.PostAsync("api/v1/batches", HostFixture.Json(new { input_file_id = fileId, endpoint = "/v1/completions", completion_window = "24h" }));
        var batchId = JsonDocument.Parse(await create.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;

        JsonElement batch;
        var wait = Stopwatch.StartNew();
        do
        {
            await Task.Delay(500);
            batch = JsonDocument.Parse(await http.GetStringAsync($"api/v1/batches/{batchId}")).RootElement.Clone();
            Assert.True(wait.Elapsed < TimeSpan.FromMinutes(5), $"{batch.GetRawText()}{host.HostLogTail()}");
        }
        while (batch.GetProperty("status").GetString() is not ("completed" or "failed" or "cancelled"));

        Assert.True(batch.GetProperty("status").GetString() == "completed", batch.GetRawText());
        var output = await http.GetStringAsync($"api/v1/files/{batch.GetProperty("output_file_id").GetString()}/content");
        var answered = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("custom_id").GetString()).ToList();
        Assert.Equal(ids.Order(), answered.Order());

        var markers = new BlobContainerClient(host.StorageConnection, host.BatchesContainerName);
        var byInstance = new Dictionary<string, int>();
        await foreach (var item in markers.GetBlobsAsync(new GetBlobsOptions { Prefix = batchId + "/chunks/", Traits = BlobTraits.Metadata }))
            byInstance[item.Metadata["instance"]] = byInstance.GetValueOrDefault(item.Metadata["instance"]) + 1;
        Assert.Equal(30, byInstance.Values.Sum());
        Assert.True(byInstance.Count == 2, $"chunks per instance: {string.Join(", ", byInstance.Select(p => $"{p.Key}={p.Value}"))}");
    }
}
