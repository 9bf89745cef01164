using System.Diagnostics;
using System.Text.Json;
using Azure.Storage.Blobs.Models;
using Serverless.EndToEnd.Tests.Hosts;
using Serverless.EndToEnd.Tests.Infrastructure;

namespace Serverless.EndToEnd.Tests.Batches;

/// <summary>
/// One batch fanned out over two local hosts on one Azurite (<see cref="TwoLocalHosts"/>): both run chunks — the chunk
/// markers name the instance that ran each — and every custom_id is answered exactly once across the output and error
/// files, also when one host is killed with SIGKILL while its chunks run. Each test starts its own pair.
/// </summary>
[Collection("TwoHosts")]
public sealed class TwoInstanceBatchTests
{
    private const int ChunkSize = 10;
    private static readonly TimeSpan Finish = TimeSpan.FromMinutes(5);

    /// <summary>Small chunks, and each host holding few messages at once (as a busy Flex instance's scheduler would want),
    /// so neither takes the whole queue in one fetch.</summary>
    private static readonly Dictionary<string, string> Spread = new()
    {
        ["Batches__ChunkSize"] = ChunkSize.ToString(),
        ["Batches__CancelPollMilliseconds"] = "200",
        ["AzureFunctionsJobHost__extensions__queues__batchSize"] = "2",
        ["AzureFunctionsJobHost__extensions__queues__newBatchThreshold"] = "1",
    };

    [Fact]
    public async Task A_batch_spreads_over_two_instances_and_answers_every_custom_id_exactly_once()
    {
        await using var pair = await TwoLocalHosts.StartAsync(Spread);
        var ids = CustomIds(30 * ChunkSize);
        var batchId = await CreateBatchAsync(pair.Hosts[0], ids, maxTokens: 16);

        var batch = await WaitForBatchAsync(pair, pair.Hosts[0], batchId);
        Assert.True(batch.GetProperty("status").GetString() == "completed", batch.GetRawText());
        var (output, errors) = await AnsweredAsync(pair.Hosts[0], batch);
        Assert.Empty(errors);
        Assert.Equal(ids.Order(), output.Order());

        var byInstance = await ChunksByInstanceAsync(pair, batchId);
        Assert.Equal(30, byInstance.Values.Sum());
        Assert.True(byInstance.Count == 2, $"chunks per instance: {string.Join(", ", byInstance.Select(p => $"{p.Key}={p.Value}"))}");
    }

    [Fact]
    public async Task A_batch_completes_with_every_custom_id_answered_once_when_an_instance_is_killed_mid_batch()
    {
        await using var pair = await TwoLocalHosts.StartAsync(Spread);
        // Long lines, so that chunks are running (listed in the victim's heartbeat) when it dies.
        var ids = CustomIds(12 * ChunkSize);
        var batchId = await CreateBatchAsync(pair.Hosts[0], ids, maxTokens: 256);

        // Kill a host once it has counted a chunk of its own and is running more: its running chunks and the messages it
        // holds can come back only through the sweep (the queue's own lease would hold them for 10 minutes).
        var clock = Stopwatch.StartNew();
        TwoLocalHosts.Host? victim = null;
        while (victim is null)
        {
            Assert.True(clock.Elapsed < Finish, "no host counted a chunk" + pair.Logs());
            var done = await ChunksByInstanceAsync(pair, batchId);
            var record = await BatchAsync(pair.Hosts[0], batchId);
            Assert.True(record.GetProperty("status").GetString() is "validating" or "in_progress", "the batch ended before a host could be killed: lengthen its lines\n" + record.GetRawText());
            foreach (var host in pair.Hosts)
            {
                if (done.GetValueOrDefault(host.InstanceId) > 0 && await HeldChunksAsync(pair, host) > 0) victim = host;
            }
            await Task.Delay(100);
        }
        await victim.SignalAsync("KILL");
        var killed = Stopwatch.StartNew();
        var survivor = pair.Hosts.Single(h => h != victim);

        var batch = await WaitForBatchAsync(pair, survivor, batchId);
        Assert.True(batch.GetProperty("status").GetString() == "completed", batch.GetRawText() + pair.Logs());
        var (output, errors) = await AnsweredAsync(survivor, batch);
        Assert.Empty(errors);
        Assert.Equal(ids.Order(), output.Order()); // every custom_id once: none lost, none twice
        var counts = batch.GetProperty("request_counts");
        Assert.Equal(ids.Count, counts.GetProperty("completed").GetInt32());
        Assert.Equal(0, counts.GetProperty("failed").GetInt32());
        // Within the sweep's bound, not the queue's 10-minute lease.
        Assert.True(killed.Elapsed < TimeSpan.FromMinutes(4), $"the batch took {killed.Elapsed.TotalSeconds:F0} s after the kill");
        Assert.Contains("handed back from instance " + victim.InstanceId, survivor.Process.Tail(2000), StringComparison.Ordinal);
    }

    /// <summary>The chunks the host's heartbeat lists (those it is running: a sweep sends them again if it dies).</summary>
    private static async Task<int> HeldChunksAsync(TwoLocalHosts pair, TwoLocalHosts.Host host) =>
        await pair.HeartbeatAsync(host.InstanceId) is { } beat && beat.TryGetProperty("chunks", out var chunks) && chunks.ValueKind == JsonValueKind.Array
            ? chunks.GetArrayLength()
            : 0;

    private static List<string> CustomIds(int count) => Enumerable.Range(0, count).Select(i => $"line-{i}").ToList();

    private static async Task<string> CreateBatchAsync(TwoLocalHosts.Host host, List<string> ids, int maxTokens)
    {
        var jsonl = string.Join('\n', ids.Select(id => JsonSerializer.Serialize(new
        {
            custom_id = id,
            method = "POST",
            url = "/v1/completions",
            body = new { prompt = $"Where is Ganymede? {id}", max_tokens = maxTokens, min_tokens = maxTokens },
        })));
        using var form = new MultipartFormDataContent { { new StringContent("batch"), "purpose" }, { new StringContent(jsonl), "file", "two.jsonl" } };
        using var upload = await host.Http.PostAsync("api/v1/files", form);
        var uploaded = await upload.Content.ReadAsStringAsync();
        Assert.True(upload.IsSuccessStatusCode, uploaded);
        var fileId = JsonDocument.Parse(uploaded).RootElement.GetProperty("id").GetString();
        using var create = await host.Http.PostAsync("api/v1/batches", HostFixture.Json(new { input_file_id = fileId, endpoint = "/v1/completions", completion_window = "24h" }));
        var created = await create.Content.ReadAsStringAsync();
        Assert.True(create.IsSuccessStatusCode, created);
        return JsonDocument.Parse(created).RootElement.GetProperty("id").GetString()!;
    }

    private static async Task<JsonElement> BatchAsync(TwoLocalHosts.Host host, string batchId) =>
        JsonDocument.Parse(await host.Http.GetStringAsync($"api/v1/batches/{batchId}")).RootElement.Clone();

    private static async Task<JsonElement> WaitForBatchAsync(TwoLocalHosts pair, TwoLocalHosts.Host host, string batchId)
    {
        var wait = Stopwatch.StartNew();
        while (true)
        {
            await Task.Delay(500);
            var batch = await BatchAsync(host, batchId);
            if (batch.GetProperty("status").GetString() is "completed" or "failed" or "cancelled" or "expired") return batch;
            Assert.True(wait.Elapsed < Finish, $"{batch.GetRawText()}\n{pair.Logs()}");
        }
    }

    /// <summary>The custom_ids of the output file and of the error file.</summary>
    private static async Task<(List<string> Output, List<string> Errors)> AnsweredAsync(TwoLocalHosts.Host host, JsonElement batch)
    {
        async Task<List<string>> Ids(string property) =>
            batch.GetProperty(property).GetString() is { } fileId
                ? (await host.Http.GetStringAsync($"api/v1/files/{fileId}/content")).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                    .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("custom_id").GetString()!).ToList()
                : [];
        return (await Ids("output_file_id"), await Ids("error_file_id"));
    }

    private static async Task<Dictionary<string, int>> ChunksByInstanceAsync(TwoLocalHosts pair, string batchId)
    {
        var byInstance = new Dictionary<string, int>();
        await foreach (var item in pair.BatchesContainer.GetBlobsAsync(new GetBlobsOptions { Prefix = batchId + "/chunks/", Traits = BlobTraits.Metadata }))
            byInstance[item.Metadata["instance"]] = byInstance.GetValueOrDefault(item.Metadata["instance"]) + 1;
        return byInstance;
    }
}
