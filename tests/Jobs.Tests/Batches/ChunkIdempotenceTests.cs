using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Microsoft.Extensions.Logging.Abstractions;
using Serverless.Jobs.Batches;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests.Batches;

/// <summary>Chunk messages delivered twice — one after the other, or to two instances at once — answer every custom_id
/// once and count it once (real Azurite; the lines run through a counting runner instead of the model).</summary>
public sealed class ChunkIdempotenceTests : IAsyncLifetime
{
    private const int Lines = 35;
    private readonly string _suffix = Guid.NewGuid().ToString("N")[..10];
    private readonly BatchOptions _options = new() { ChunkSize = 10, LineConcurrency = 2, CancelPollInterval = TimeSpan.FromMilliseconds(100) };
    private readonly CountingRunner _runner = new();
    private BatchStore _batches = null!;
    private FileStore _files = null!;
    private BatchQueue _queue = null!;

    public async Task InitializeAsync()
    {
        await TestStorage.EnsureReachableAsync();
        var blobs = new BlobServiceClient(TestStorage.ConnectionString);
        _batches = new BatchStore(blobs.GetBlobContainerClient("test-batches-" + _suffix));
        _files = new FileStore(blobs.GetBlobContainerClient("test-batch-files-" + _suffix));
        _queue = new BatchQueue(new QueueClient(TestStorage.ConnectionString, "test-batch-work-" + _suffix));
    }

    public async Task DisposeAsync()
    {
        await _batches.Container.DeleteIfExistsAsync();
        await _files.Container.DeleteIfExistsAsync();
        await _queue.Client.DeleteIfExistsAsync();
    }

    private BatchWorker Worker(string instance) => new(_batches, _files, _queue, new BlobServiceClient(TestStorage.ConnectionString), _runner, _options, instance,
        TimeProvider.System, NullLogger<BatchWorker>.Instance);

    private async Task<string> CreateValidatedBatchAsync(BatchWorker worker)
    {
        var now = DateTimeOffset.UtcNow;
        var jsonl = string.Join('\n', Enumerable.Range(0, Lines).Select(i =>
            JsonSerializer.Serialize(new { custom_id = $"id-{i}", method = "POST", url = "/v1/completions", body = new { prompt = $"p{i}" } })));
        var file = await _files.UploadAsync(BatchIds.NewFileId(now), new MemoryStream(Encoding.UTF8.GetBytes(jsonl)), "in.jsonl", "batch", now, default);
        var record = BatchesApi.NewRecord(BatchIds.NewBatchId(now), file.Id, "/v1/completions", null, now);
        await _batches.CreateAsync(record, default);
        await worker.ValidateAsync(record.Id, default);
        return record.Id;
    }

    /// <summary>The batch's chunk messages, in chunk order: a queue does not promise the order it was sent in (the last
    /// chunk, of 5 lines, came first once under a loaded machine).</summary>
    private async Task<List<string>> TakeChunkMessagesAsync()
    {
        var bodies = new List<string>();
        while (true)
        {
            var received = (await _queue.Client.ReceiveMessagesAsync(32)).Value;
            if (received.Length == 0) return bodies.OrderBy(b => JsonDocument.Parse(b).RootElement.GetProperty("chunk").GetInt32()).ToList();
            foreach (var m in received)
            {
                bodies.Add(m.Body.ToString());
                await _queue.Client.DeleteMessageAsync(m.MessageId, m.PopReceipt);
            }
        }
    }

    private async Task<List<string>> OutputCustomIdsAsync(BatchRecord record)
    {
        var content = await _files.Blob(record.OutputFileId!).DownloadContentAsync();
        return content.Value.Content.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("custom_id").GetString()!).ToList();
    }

    [Fact]
    public async Task Every_chunk_delivered_to_two_instances_at_once_is_answered_and_counted_once()
    {
        var a = Worker("instance-a");
        var b = Worker("instance-b");
        var id = await CreateValidatedBatchAsync(a);
        var chunks = await TakeChunkMessagesAsync();
        Assert.Equal(4, chunks.Count);

        // Each message to both instances concurrently: what a lease that expired mid-chunk does.
        await Task.WhenAll(chunks.SelectMany(body => new[] { a.ProcessAsync(body, "m", null, default), b.ProcessAsync(body, "m", null, default) }));

        var record = (await _batches.GetAsync(id, default))!.Value.Record;
        Assert.Equal(BatchStatus.Completed, record.Status);
        Assert.Equal(new BatchRequestCounts(Lines, Lines, 0), record.RequestCounts);
        var answered = await OutputCustomIdsAsync(record);
        Assert.Equal(Enumerable.Range(0, Lines).Select(i => $"id-{i}").Order(), answered.Order());
        // The lines did run twice (both instances worked): the markers kept one run per chunk.
        Assert.True(_runner.Calls > Lines, $"{_runner.Calls} runs: the duplicate deliveries did not overlap");
    }

    [Fact]
    public async Task A_chunk_redelivered_after_the_batch_completed_changes_nothing()
    {
        var a = Worker("instance-a");
        var id = await CreateValidatedBatchAsync(a);
        var chunks = await TakeChunkMessagesAsync();
        foreach (var body in chunks) await a.ProcessAsync(body, "m", null, default);
        var before = (await _batches.GetAsync(id, default))!.Value;
        var calls = _runner.Calls;

        await a.ProcessAsync(chunks[0], "m", null, default);
        await Worker("instance-b").ProcessAsync(chunks[^1], "m", null, default);

        var after = (await _batches.GetAsync(id, default))!.Value;
        Assert.Equal(before.ETag, after.ETag);
        Assert.Equal(calls, _runner.Calls);
        Assert.Equal(Lines, (await OutputCustomIdsAsync(after.Record)).Count);
    }

    [Fact]
    public async Task Chunk_markers_name_the_instance_that_ran_each_chunk()
    {
        var a = Worker("instance-a");
        var b = Worker("instance-b");
        var id = await CreateValidatedBatchAsync(a);
        var chunks = await TakeChunkMessagesAsync();
        var ranBy = new Dictionary<int, string>();
        for (var i = 0; i < chunks.Count; i++)
        {
            var worker = i % 2 == 0 ? a : b;
            await worker.ProcessAsync(chunks[i], "m", null, default);
            ranBy[JsonDocument.Parse(chunks[i]).RootElement.GetProperty("chunk").GetInt32()] = worker.Instance;
        }

        var markers = await _batches.ListMarkersAsync(id, default);
        Assert.Equal(ranBy.OrderBy(p => p.Key).Select(p => p.Value), markers.Select(m => m.Instance));
        Assert.Equal(["instance-a", "instance-b"], markers.Select(m => m.Instance).Distinct().Order());
        Assert.Equal(Lines, markers.Sum(m => m.Completed));
    }

    [Fact]
    public async Task A_poisoned_chunk_puts_its_lines_in_the_error_file_and_the_batch_still_completes()
    {
        var a = Worker("instance-a");
        var id = await CreateValidatedBatchAsync(a);
        var chunks = await TakeChunkMessagesAsync();
        await a.HandlePoisonAsync(chunks[0], "m", default);
        foreach (var body in chunks.Skip(1)) await a.ProcessAsync(body, "m", null, default);

        var record = (await _batches.GetAsync(id, default))!.Value.Record;
        Assert.Equal(BatchStatus.Completed, record.Status);
        Assert.Equal(new BatchRequestCounts(Lines, Lines - 10, 10), record.RequestCounts);
        var errors = (await _files.Blob(record.ErrorFileId!).DownloadContentAsync()).Value.Content.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(10, errors.Length);
        Assert.All(errors, e => Assert.Equal("batch_chunk_failed", JsonDocument.Parse(e).RootElement.GetProperty("error").GetProperty("code").GetString()));
    }

    private sealed class CountingRunner : IBatchLineRunner
    {
        private int _calls;
        public int Calls => Volatile.Read(ref _calls);
        public ConcurrentBag<string> Prompts { get; } = [];

        public async Task<BatchLineResult> RunAsync(string endpoint, JsonElement body, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            await Task.Delay(20, cancellationToken);
            var prompt = body.GetProperty("prompt").GetString()!;
            Prompts.Add(prompt);
            return new BatchLineResult(200, new JsonObject { ["object"] = "text_completion", ["choices"] = new JsonArray(new JsonObject { ["text"] = prompt.ToUpperInvariant() }) });
        }
    }
}
