using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Microsoft.Extensions.Logging.Abstractions;
using Serverless.Jobs.Batches;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests.Batches;

/// <summary>A batch past its completion window (<c>Batches__CompletionWindow</c>, short here) ends <c>expired</c> as OpenAI
/// defines it: lines finished stay in the output file, every other line is in the error file with <c>batch_expired</c>,
/// each custom_id exactly once (real Azurite; lines run through a slow runner instead of the model).</summary>
public sealed class BatchExpiryTests : IAsyncLifetime
{
    private const int Lines = 40;
    private readonly string _suffix = Guid.NewGuid().ToString("N")[..10];
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

    private BatchWorker Worker(BatchOptions options, TimeSpan lineTime) => new(_batches, _files, _queue, new BlobServiceClient(TestStorage.ConnectionString),
        new SlowRunner(lineTime), options, "instance-a", TimeProvider.System, NullLogger<BatchWorker>.Instance);

    [Fact]
    public async Task Lines_not_done_when_the_window_ends_go_to_the_error_file_as_batch_expired_and_the_batch_expires()
    {
        // 40 lines of 0.25 s, two at a time: 5 s of work against a window of 3 s (expires_at is whole seconds, so 2-3 s).
        var worker = Worker(new BatchOptions { ChunkSize = 10, LineConcurrency = 2, CompletionWindow = TimeSpan.FromSeconds(3) }, TimeSpan.FromMilliseconds(250));
        var id = await CreateValidatedBatchAsync(worker);
        foreach (var body in await TakeChunkMessagesAsync()) await worker.ProcessAsync(body, "m", null, default);

        var record = (await _batches.GetAsync(id, default))!.Value.Record;
        Assert.Equal(BatchStatus.Expired, record.Status);
        Assert.NotNull(record.ExpiredAt);
        Assert.Null(record.CompletedAt);
        var output = await LinesAsync(record.OutputFileId);
        var errors = await LinesAsync(record.ErrorFileId);
        Assert.NotEmpty(output);
        Assert.NotEmpty(errors);
        Assert.All(errors, e => Assert.Equal("batch_expired", e["error"]!["code"]!.GetValue<string>()));
        Assert.All(errors, e => Assert.Null(e["response"]));
        var answered = output.Concat(errors).Select(l => l["custom_id"]!.GetValue<string>()).ToList();
        Assert.Equal(Enumerable.Range(0, Lines).Select(i => $"id-{i}").Order(), answered.Order());
        Assert.Equal(new BatchRequestCounts(Lines, output.Count, errors.Count), record.RequestCounts);
    }

    [Fact]
    public async Task A_batch_whose_window_ended_before_its_chunks_ran_expires_with_every_line_in_the_error_file()
    {
        var worker = Worker(new BatchOptions { ChunkSize = 10, LineConcurrency = 2, CompletionWindow = TimeSpan.FromSeconds(1) }, TimeSpan.Zero);
        var id = await CreateValidatedBatchAsync(worker);
        await Task.Delay(TimeSpan.FromSeconds(2.1));
        foreach (var body in await TakeChunkMessagesAsync()) await worker.ProcessAsync(body, "m", null, default);

        var record = (await _batches.GetAsync(id, default))!.Value.Record;
        Assert.Equal(BatchStatus.Expired, record.Status);
        Assert.Null(record.OutputFileId);
        var errors = await LinesAsync(record.ErrorFileId);
        Assert.Equal(Lines, errors.Count);
        Assert.All(errors, e => Assert.Equal("batch_expired", e["error"]!["code"]!.GetValue<string>()));
        Assert.Equal(new BatchRequestCounts(Lines, 0, Lines), record.RequestCounts);
    }

    [Fact]
    public async Task A_batch_that_finishes_within_its_window_completes()
    {
        var worker = Worker(new BatchOptions { ChunkSize = 10, LineConcurrency = 4 }, TimeSpan.Zero);
        var id = await CreateValidatedBatchAsync(worker);
        foreach (var body in await TakeChunkMessagesAsync()) await worker.ProcessAsync(body, "m", null, default);

        var record = (await _batches.GetAsync(id, default))!.Value.Record;
        Assert.Equal(BatchStatus.Completed, record.Status);
        Assert.Equal(record.CreatedAt + (long)TimeSpan.FromHours(24).TotalSeconds, record.ExpiresAt);
        Assert.Null(record.ErrorFileId);
    }

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

    private async Task<List<string>> TakeChunkMessagesAsync()
    {
        var bodies = new List<string>();
        while (true)
        {
            var received = (await _queue.Client.ReceiveMessagesAsync(32)).Value;
            if (received.Length == 0) return bodies;
            foreach (var m in received)
            {
                bodies.Add(m.Body.ToString());
                await _queue.Client.DeleteMessageAsync(m.MessageId, m.PopReceipt);
            }
        }
    }

    private async Task<List<JsonNode>> LinesAsync(string? fileId) =>
        fileId is null
            ? []
            : (await _files.Blob(fileId).DownloadContentAsync()).Value.Content.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();

    /// <summary>Answers each line after <paramref name="lineTime"/> (cancelled with the chunk's token, as the engine is).</summary>
    private sealed class SlowRunner(TimeSpan lineTime) : IBatchLineRunner
    {
        public async Task<BatchLineResult> RunAsync(string endpoint, JsonElement body, CancellationToken cancellationToken)
        {
            if (lineTime > TimeSpan.Zero) await Task.Delay(lineTime, cancellationToken);
            return new BatchLineResult(200, new JsonObject { ["object"] = "text_completion", ["choices"] = new JsonArray(new JsonObject { ["text"] = "ok" }) });
        }
    }
}
