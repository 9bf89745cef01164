// The SDK marks its Batch client experimental (OPENAI001); it is the client under test here.
#pragma warning disable OPENAI001
using System.ClientModel;
using System.ClientModel.Primitives;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using OpenAI;
using OpenAI.Batch;
using OpenAI.Files;
using Serverless.EndToEnd.Tests.Infrastructure;

namespace Serverless.EndToEnd.Tests;

/// <summary>OpenAI's Files and Batches API on every host, driven by the official OpenAI .NET SDK (<c>OpenAIFileClient</c>,
/// <c>BatchClient</c>; its protocol methods where those are the SDK's surface).</summary>
public abstract partial class EndToEndTests<THost>
{
    private static readonly TimeSpan BatchTimeout = TimeSpan.FromMinutes(3);

    /// <summary>The SDK with the app's OpenAI key, sent as the SDK sends it (Bearer): the Files and Batches routes check it
    /// as the completion routes do (docs/openai.md, "Keys").</summary>
    private OpenAIClient FilesAndBatchesClient()
    {
        SkipIfNoOpenAiKey();
        var options = new OpenAIClientOptions { Endpoint = new Uri(host.BaseUrl, "api/v1"), NetworkTimeout = TimeSpan.FromMinutes(2) };
        return new OpenAIClient(new ApiKeyCredential(host.OpenAiKey!), options);
    }

    /// <summary>Plain HTTP with the app's OpenAI key as Bearer.</summary>
    private HttpClient OpenAiHttp()
    {
        SkipIfNoOpenAiKey();
        var http = new HttpClient { BaseAddress = host.BaseUrl };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", host.OpenAiKey);
        return http;
    }

    private static string CompletionLine(string customId, string prompt, int maxTokens = 4) =>
        JsonSerializer.Serialize(new { custom_id = customId, method = "POST", url = "/v1/completions", body = new { model = "flan-t5", prompt, max_tokens = maxTokens } });

    private async Task<string> UploadAsync(string jsonl, string name = "batch.jsonl")
    {
        var file = await FilesAndBatchesClient().GetOpenAIFileClient().UploadFileAsync(BinaryData.FromString(jsonl), name, FileUploadPurpose.Batch);
        return file.Value.Id;
    }

    private async Task<JsonElement> CreateBatchAsync(string inputFileId, string endpoint = "/v1/completions", bool wait = true)
    {
        var batches = FilesAndBatchesClient().GetBatchClient();
        var operation = await batches.CreateBatchAsync(BinaryContent.Create(BinaryData.FromObjectAsJson(new
        {
            input_file_id = inputFileId,
            endpoint,
            completion_window = "24h",
            metadata = new Dictionary<string, string> { ["suite"] = "e2e" },
        })), waitUntilCompleted: false);
        // Without waiting: the create call's own answer (a second read races the validation step, which may have moved on).
        return wait ? await WaitForBatchAsync(operation.BatchId) : JsonDocument.Parse(operation.GetRawResponse().Content).RootElement.Clone();
    }

    private async Task<JsonElement> GetBatchAsync(string id)
    {
        var operation = await CreateBatchOperation.RehydrateAsync(FilesAndBatchesClient().GetBatchClient(), id);
        return Parse(await operation.GetBatchAsync(null));
    }

    private async Task<JsonElement> WaitForBatchAsync(string id, TimeSpan? timeout = null)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var batch = await GetBatchAsync(id);
            if (batch.GetProperty("status").GetString() is "completed" or "failed" or "cancelled" or "expired") return batch;
            if (clock.Elapsed > (timeout ?? BatchTimeout)) Assert.Fail($"Batch {id} still {batch.GetRawText()} after {clock.Elapsed}.{host.HostLogTail()}");
            await Task.Delay(250);
        }
    }

    private static JsonElement Parse(ClientResult result) => JsonDocument.Parse(result.GetRawResponse().Content).RootElement.Clone();

    private async Task<List<JsonElement>> DownloadLinesAsync(JsonElement fileId)
    {
        if (fileId.ValueKind == JsonValueKind.Null) return [];
        var content = await FilesAndBatchesClient().GetOpenAIFileClient().DownloadFileAsync(fileId.GetString()!);
        return content.Value.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
    }

    [SkippableFact]
    public async Task A_batch_through_the_OpenAI_SDK_answers_every_custom_id_once_in_its_output_file()
    {
        SkipIfUnavailable();
        var ids = Enumerable.Range(0, 3 * host.BatchChunkSize + 5).Select(i => $"req-{i}").ToList();
        var input = await UploadAsync(string.Join('\n', ids.Select((id, i) => CompletionLine(id, $"{Prompt} ({i})"))) + "\n");

        var files = FilesAndBatchesClient().GetOpenAIFileClient();
        var uploaded = (await files.GetFileAsync(input)).Value;
        Assert.Equal("batch.jsonl", uploaded.Filename);
        Assert.Equal(FilePurpose.Batch, uploaded.Purpose);

        var batch = await CreateBatchAsync(input);

        Assert.True(batch.GetProperty("status").GetString() == "completed", batch.GetRawText());
        var counts = batch.GetProperty("request_counts");
        Assert.Equal(ids.Count, counts.GetProperty("total").GetInt32());
        Assert.Equal(ids.Count, counts.GetProperty("completed").GetInt32());
        Assert.Equal(0, counts.GetProperty("failed").GetInt32());
        Assert.Equal(JsonValueKind.Null, batch.GetProperty("error_file_id").ValueKind);
        Assert.Equal("e2e", batch.GetProperty("metadata").GetProperty("suite").GetString());
        foreach (var stamp in new[] { "created_at", "in_progress_at", "finalizing_at", "completed_at" })
            Assert.True(batch.GetProperty(stamp).ValueKind == JsonValueKind.Number, $"{stamp}: {batch.GetRawText()}");

        var lines = await DownloadLinesAsync(batch.GetProperty("output_file_id"));
        Assert.Equal(ids.Order(), lines.Select(l => l.GetProperty("custom_id").GetString()).Order());
        Assert.All(lines, l =>
        {
            Assert.Equal(200, l.GetProperty("response").GetProperty("status_code").GetInt32());
            var body = l.GetProperty("response").GetProperty("body");
            Assert.Equal("text_completion", body.GetProperty("object").GetString());
            Assert.InRange(body.GetProperty("usage").GetProperty("completion_tokens").GetInt32(), 1, 4);
            Assert.Equal(JsonValueKind.Null, l.GetProperty("error").ValueKind);
        });
        var output = (await files.GetFileAsync(batch.GetProperty("output_file_id").GetString()!)).Value;
        Assert.Equal(FilePurpose.BatchOutput, output.Purpose);
        Assert.Contains((await files.GetFilesAsync(FilePurpose.Batch)).Value, f => f.Id == input);

        Assert.True((await files.DeleteFileAsync(input)).Value.Deleted);
        var gone = await Assert.ThrowsAsync<ClientResultException>(() => files.GetFileAsync(input));
        Assert.Equal(404, gone.Status);
    }

    [SkippableFact]
    public async Task A_chat_batch_puts_a_bad_line_and_a_prompt_over_the_window_in_the_error_file_and_still_completes()
    {
        SkipIfUnavailable();
        string Chat(string id, object body) => JsonSerializer.Serialize(new { custom_id = id, method = "POST", url = "/v1/chat/completions", body });
        var jsonl = string.Join('\n',
            Chat("good", new { model = "flan-t5", messages = new[] { new { role = "user", content = Prompt } }, max_tokens = 4 }),
            Chat("no-messages", new { model = "flan-t5", max_tokens = 4 }),
            Chat("too-long", new { model = "flan-t5", messages = new[] { new { role = "user", content = string.Join(' ', Enumerable.Repeat("Ganymede", 4000)) } }, max_tokens = 4 }));
        var batch = await CreateBatchAsync(await UploadAsync(jsonl), "/v1/chat/completions");

        Assert.True(batch.GetProperty("status").GetString() == "completed", batch.GetRawText());
        Assert.Equal(1, batch.GetProperty("request_counts").GetProperty("completed").GetInt32());
        Assert.Equal(2, batch.GetProperty("request_counts").GetProperty("failed").GetInt32());
        var output = await DownloadLinesAsync(batch.GetProperty("output_file_id"));
        Assert.Equal("chat.completion", Assert.Single(output).GetProperty("response").GetProperty("body").GetProperty("object").GetString());
        var errors = (await DownloadLinesAsync(batch.GetProperty("error_file_id"))).ToDictionary(l => l.GetProperty("custom_id").GetString()!);
        Assert.Equal(["no-messages", "too-long"], errors.Keys.Order());
        Assert.Equal(400, errors["no-messages"].GetProperty("response").GetProperty("status_code").GetInt32());
        Assert.Equal("context_length_exceeded", errors["too-long"].GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("context window", errors["too-long"].GetProperty("error").GetProperty("message").GetString());
    }

    [SkippableFact]
    public async Task A_malformed_file_fails_the_batch_with_errors_naming_the_lines()
    {
        SkipIfUnavailable();
        var jsonl = string.Join('\n',
            CompletionLine("a", Prompt),
            "{not json",
            CompletionLine("a", Prompt),
            JsonSerializer.Serialize(new { custom_id = "c", method = "POST", url = "/v1/chat/completions", body = new { model = "flan-t5", messages = Array.Empty<object>() } }),
            JsonSerializer.Serialize(new { custom_id = "d", method = "POST", url = "/v1/completions", body = new { model = "another", prompt = "x" } }));
        var batch = await CreateBatchAsync(await UploadAsync(jsonl));

        Assert.True(batch.GetProperty("status").GetString() == "failed", batch.GetRawText());
        Assert.Equal(JsonValueKind.Number, batch.GetProperty("failed_at").ValueKind);
        var errors = batch.GetProperty("errors").GetProperty("data").EnumerateArray().Select(e => (e.GetProperty("code").GetString(), e.GetProperty("line").GetInt32())).ToList();
        Assert.Equal([("invalid_json_line", 2), ("duplicate_custom_id", 3), ("mismatched_endpoint", 4), ("mismatched_model", 5)], errors);
        Assert.Equal(JsonValueKind.Null, batch.GetProperty("output_file_id").ValueKind);
    }

    [SkippableFact]
    public async Task An_empty_file_fails_the_batch_as_empty()
    {
        SkipIfUnavailable();
        var batch = await CreateBatchAsync(await UploadAsync("\n\n"));

        Assert.True(batch.GetProperty("status").GetString() == "failed", batch.GetRawText());
        Assert.Equal("empty_file", batch.GetProperty("errors").GetProperty("data")[0].GetProperty("code").GetString());
    }

    [SkippableFact]
    public async Task Cancelling_mid_batch_stops_its_chunks_and_keeps_the_lines_already_answered()
    {
        SkipIfUnavailable();
        // Long enough lines that the batch is still running when the cancel lands.
        var ids = Enumerable.Range(0, 20 * host.BatchChunkSize).Select(i => $"c-{i}").ToList();
        var jsonl = string.Join('\n', ids.Select((id, i) => JsonSerializer.Serialize(new
        {
            custom_id = id,
            method = "POST",
            url = "/v1/completions",
            body = new { model = "flan-t5", prompt = $"{Prompt} {i}", max_tokens = 200, min_tokens = 200 },
        })));
        var created = await CreateBatchAsync(await UploadAsync(jsonl), wait: false);
        var id = created.GetProperty("id").GetString()!;
        // Cancelled at once: the demo model answers the 200 lines in about 2 s, so waiting for a first answer let every line
        // finish before the cancel landed (seen in CI-mode runs).
        var operation = await CreateBatchOperation.RehydrateAsync(FilesAndBatchesClient().GetBatchClient(), id);
        var cancelling = Parse(await operation.CancelAsync(null));
        Assert.Contains(cancelling.GetProperty("status").GetString(), new[] { "cancelling", "cancelled" });
        var batch = await WaitForBatchAsync(id);

        Assert.True(batch.GetProperty("status").GetString() == "cancelled", batch.GetRawText());
        Assert.Equal(JsonValueKind.Number, batch.GetProperty("cancelled_at").ValueKind);
        var answered = (await DownloadLinesAsync(batch.GetProperty("output_file_id"))).Select(l => l.GetProperty("custom_id").GetString()!).ToList();
        Assert.True(answered.Count < ids.Count, $"all {ids.Count} lines ran: the cancel stopped nothing");
        Assert.Equal(answered.Count, answered.Distinct().Count());
        Assert.Equal(answered.Count, batch.GetProperty("request_counts").GetProperty("completed").GetInt32());
        Assert.Subset(ids.ToHashSet(), answered.ToHashSet());

        // Cancel is idempotent: again, the batch as it is.
        Assert.Equal("cancelled", Parse(await operation.CancelAsync(null)).GetProperty("status").GetString());
    }

    [SkippableFact]
    public async Task A_redelivered_chunk_message_changes_nothing()
    {
        SkipIfNoStorage();
        Skip.If(host.BatchQueueName is null, "the suite does not know this host's batch queue");
        var ids = Enumerable.Range(0, host.BatchChunkSize).Select(i => $"r-{i}").ToList();
        var jsonl = string.Join('\n', ids.Select(id => CompletionLine(id, Prompt))) + "\n";
        var batch = await CreateBatchAsync(await UploadAsync(jsonl));
        Assert.True(batch.GetProperty("status").GetString() == "completed", batch.GetRawText());

        // Chunk 0 again, as the queue would redeliver it after a lost lease: the whole file.
        var queue = new QueueClient(host.StorageConnection, host.BatchQueueName);
        await queue.SendMessageAsync(JsonSerializer.Serialize(new
        {
            kind = "chunk",
            batch_id = batch.GetProperty("id").GetString(),
            chunk = 0,
            offset = 0,
            length = Encoding.UTF8.GetByteCount(jsonl),
            first_line = 1,
        }));
        var clock = Stopwatch.StartNew();
        while ((await queue.GetPropertiesAsync()).Value.ApproximateMessagesCount > 0 && clock.Elapsed < TimeSpan.FromSeconds(30)) await Task.Delay(200);
        await Task.Delay(1000);

        var after = await GetBatchAsync(batch.GetProperty("id").GetString()!);
        var finished = await CreateBatchOperation.RehydrateAsync(FilesAndBatchesClient().GetBatchClient(), batch.GetProperty("id").GetString()!);
        Assert.Equal(409, (await Assert.ThrowsAsync<ClientResultException>(() => finished.CancelAsync(null))).Status);
        Assert.Equal(batch.GetProperty("request_counts").GetRawText(), after.GetProperty("request_counts").GetRawText());
        var lines = await DownloadLinesAsync(after.GetProperty("output_file_id"));
        Assert.Equal(ids.Order(), lines.Select(l => l.GetProperty("custom_id").GetString()).Order());
    }

    [SkippableFact]
    public async Task A_20_MB_file_uploads_and_its_batch_is_created_at_once_and_a_file_over_the_limit_is_refused_with_413()
    {
        SkipIfUnavailable();
        // ~20 MB in 2,000 lines of ~10 KB (a long prompt each): the create call must not read the file.
        var padding = string.Join(' ', Enumerable.Repeat("moon", 2000));
        var builder = new StringBuilder();
        for (var i = 0; builder.Length < 20 * 1024 * 1024; i++) builder.Append(CompletionLine($"big-{i}", padding)).Append('\n');
        var jsonl = builder.ToString();
        var files = FilesAndBatchesClient().GetOpenAIFileClient();
        var upload = (await files.UploadFileAsync(BinaryData.FromString(jsonl), "big.jsonl", FileUploadPurpose.Batch)).Value;
        Assert.Equal(Encoding.UTF8.GetByteCount(jsonl), upload.SizeInBytes);

        var clock = Stopwatch.StartNew();
        var created = await CreateBatchAsync(upload.Id, wait: false);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"creating the batch took {clock.Elapsed}");
        Assert.Equal("validating", created.GetProperty("status").GetString());
        var operation = await CreateBatchOperation.RehydrateAsync(FilesAndBatchesClient().GetBatchClient(), created.GetProperty("id").GetString()!);
        await operation.CancelAsync(null);
        Assert.Equal("cancelled", (await WaitForBatchAsync(created.GetProperty("id").GetString()!)).GetProperty("status").GetString());

        var over = new byte[host.MaxBatchFileBytes + 1];
        Array.Fill(over, (byte)'\n');
        var refused = await Assert.ThrowsAsync<ClientResultException>(() => files.UploadFileAsync(BinaryData.FromBytes(over), "over.jsonl", FileUploadPurpose.Batch));
        Assert.Equal(413, refused.Status);
    }

    [SkippableFact]
    public async Task A_jsonl_blob_dropped_on_the_batch_queue_becomes_a_batch()
    {
        SkipIfNoStorage();
        Skip.If(host.BatchQueueName is null, "the suite does not know this host's batch queue");
        var container = new BlobContainerClient(host.StorageConnection, "e2e-drops");
        await container.CreateIfNotExistsAsync();
        var name = $"drop-{Guid.NewGuid():N}.jsonl";
        await container.GetBlobClient(name).UploadAsync(BinaryData.FromString(string.Join('\n', CompletionLine("d-1", Prompt), CompletionLine("d-2", Prompt))));

        // As deployed (infra/ creates the queue): a host may not have created it yet when the drop comes first.
        var dropQueue = new QueueClient(host.StorageConnection, host.BatchQueueName);
        await dropQueue.CreateIfNotExistsAsync();
        await dropQueue.SendMessageAsync(
            JsonSerializer.Serialize(new { input_blob = $"e2e-drops/{name}", endpoint = "/v1/completions" }));

        var clock = Stopwatch.StartNew();
        string? batchId = null;
        using var http = OpenAiHttp();
        while (batchId is null && clock.Elapsed < DropTimeout)
        {
            using var list = await http.GetAsync("api/v1/batches?limit=100");
            using var page = JsonDocument.Parse(await list.Content.ReadAsStringAsync());
            foreach (var b in page.RootElement.GetProperty("data").EnumerateArray())
            {
                // (Other tests delete their input files.)
                using var file = await http.GetAsync($"api/v1/files/{b.GetProperty("input_file_id").GetString()}");
                if (file.IsSuccessStatusCode && JsonDocument.Parse(await file.Content.ReadAsStringAsync()).RootElement.GetProperty("filename").GetString() == name)
                    batchId = b.GetProperty("id").GetString();
            }
            if (batchId is null) await Task.Delay(500);
        }
        Assert.True(batchId is not null, $"no batch for the dropped blob {name}.{host.HostLogTail()}");
        var batch = await WaitForBatchAsync(batchId);
        Assert.True(batch.GetProperty("status").GetString() == "completed", batch.GetRawText());
        Assert.Equal(["d-1", "d-2"], (await DownloadLinesAsync(batch.GetProperty("output_file_id"))).Select(l => l.GetProperty("custom_id").GetString()).Order());
    }
}
