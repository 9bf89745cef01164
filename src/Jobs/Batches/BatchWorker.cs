using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Microsoft.Extensions.Logging;

namespace Serverless.Jobs.Batches;

/// <summary>
/// Runs the batch work queue's messages: validation (fan-out into chunk messages), chunks (lines through
/// <see cref="IBatchLineRunner"/>, results staged once, counted once) and finalization (one block list per file),
/// and dropped input blobs. Every step is safe to run twice: a redelivered message or a second instance holding the same
/// message changes nothing the first did (see docs/batches.md, "Idempotence").
/// </summary>
public sealed class BatchWorker
{
    private readonly BatchStore _batches;
    private readonly FileStore _files;
    private readonly BatchQueue _queue;
    private readonly BlobServiceClient _blobs;
    private readonly IBatchLineRunner _runner;
    private readonly BatchOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _instance;
    private readonly Failover.InstanceHeartbeat? _heartbeat;
    private readonly BatchStatusPoll _statusPoll;

    /// <param name="heartbeat">With failover on: a running chunk is listed in this instance's heartbeat, so a sweep sends it
    /// again if the instance dies (instead of the queue's 10-minute message lease).</param>
    internal BatchWorker(BatchStore batches, FileStore files, BatchQueue queue, BlobServiceClient blobs, IBatchLineRunner runner, BatchOptions options,
        string instance, TimeProvider time, ILogger<BatchWorker> logger, Failover.InstanceHeartbeat? heartbeat = null)
    {
        _heartbeat = heartbeat;
        _batches = batches;
        _files = files;
        _queue = queue;
        _blobs = blobs;
        _runner = runner;
        _options = options;
        _instance = instance;
        _time = time;
        _logger = logger;
        _statusPoll = new BatchStatusPoll(batches, options.CancelPollInterval, time);
    }

    /// <summary>The name chunk markers record for this instance.</summary>
    public string Instance => _instance;

    /// <summary>Runs one queue message. Throws on a transient failure (the queue retries the message); a message that can
    /// never succeed (not JSON, an unknown batch) is logged and dropped.</summary>
    public async Task ProcessAsync(string body, string messageId, DateTimeOffset? insertedOn, CancellationToken cancellationToken)
    {
        BatchMessage? message;
        try
        {
            message = JsonSerializer.Deserialize<BatchMessage>(body, BatchJson.Options);
        }
        catch (JsonException e)
        {
            _logger.LogWarning("Batch queue message {MessageId} is not a batch message and was dropped: {Reason}", messageId, e.Message);
            return;
        }
        switch (message)
        {
            case { IsDrop: true }:
                await StartDroppedAsync(message, messageId, insertedOn ?? _time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
                break;
            case { Kind: BatchMessage.Validate, BatchId: { } id }:
                await ValidateAsync(id, cancellationToken).ConfigureAwait(false);
                break;
            case { Kind: BatchMessage.ChunkKind, BatchId: not null }:
                try
                {
                    await RunChunkAsync(message, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    // The host is stopping (scale-in): the chunk goes back on the queue now, visible to other instances
                    // after ShutdownDrain.HandBackDelay, and this message completes, rather than coming back after
                    // visibilityTimeout. Running it twice answers it once (the marker), so a hand-back that races the end
                    // of the chunk is harmless.
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                    await _queue.SendAsync(message, Failover.ShutdownDrain.HandBackDelay, timeout.Token).ConfigureAwait(false);
                    _logger.LogWarning("Chunk {Chunk} of batch {BatchId}: stopped (host shutting down); handed back to the queue at once", message.Chunk, message.BatchId);
                }
                break;
            default:
                _logger.LogWarning("Batch queue message {MessageId} names no known kind and was dropped", messageId);
                break;
        }
    }

    /// <summary>A message that kept failing: a chunk is recorded with every line in the error file
    /// (<c>batch_chunk_failed</c>) so the batch still finishes; a validation fails its batch.</summary>
    public async Task HandlePoisonAsync(string body, string messageId, CancellationToken cancellationToken)
    {
        BatchMessage? message;
        try
        {
            message = JsonSerializer.Deserialize<BatchMessage>(body, BatchJson.Options);
        }
        catch (JsonException)
        {
            _logger.LogWarning("Poisoned batch message {MessageId} is not a batch message; dropped", messageId);
            return;
        }
        switch (message)
        {
            case { Kind: BatchMessage.ChunkKind, BatchId: not null }:
                _logger.LogError("Chunk {Chunk} of batch {BatchId} failed every try: its lines go to the error file", message.Chunk, message.BatchId);
                await RunChunkAsync(message, cancellationToken, poisoned: true).ConfigureAwait(false);
                break;
            case { Kind: BatchMessage.Validate, BatchId: { } id }:
                await _batches.UpdateAsync(id, r => r.Status is BatchStatus.Validating or BatchStatus.Cancelling && r.ChunkCount is null
                    ? r with
                    {
                        Status = BatchStatus.Failed,
                        FailedAt = Now,
                        Errors = new BatchErrors([new BatchValidationError("validation_failed", "The input file could not be validated (storage kept failing); create the batch again.")]),
                    }
                    : null, cancellationToken).ConfigureAwait(false);
                break;
            default:
                _logger.LogError("Poisoned batch message {MessageId} (a dropped input blob?) was not started: {Body}", messageId, body.Length > 200 ? body[..200] : body);
                break;
        }
    }

    private long Now => _time.GetUtcNow().ToUnixTimeSeconds();

    internal async Task ValidateAsync(string batchId, CancellationToken cancellationToken)
    {
        if (await _batches.GetAsync(batchId, cancellationToken).ConfigureAwait(false) is not { } current)
        {
            _logger.LogWarning("Batch {BatchId} to validate does not exist (deleted?)", batchId);
            return;
        }
        var record = current.Record;
        if (record.Status == BatchStatus.Cancelling && record.ChunkCount is null)
        {
            await _batches.UpdateAsync(batchId, r => r.Status == BatchStatus.Cancelling && r.ChunkCount is null
                ? r with { Status = BatchStatus.Cancelled, CancelledAt = Now } : null, cancellationToken).ConfigureAwait(false);
            return;
        }
        // Validating, or in progress when a validation that had recorded its result died before sending every chunk: send
        // them all again (a chunk that runs twice is answered once).
        if (record.Status is not (BatchStatus.Validating or BatchStatus.InProgress)) return;

        var content = await _files.Blob(record.InputFileId).DownloadContentAsync(cancellationToken).ConfigureAwait(false);
        var result = BatchValidator.Validate(content.Value.Content.ToMemory().Span, batchId, record.Endpoint, _options);
        if (result.Errors.Count > 0)
        {
            await _batches.UpdateAsync(batchId, r => r.Status == BatchStatus.Validating
                ? r with { Status = BatchStatus.Failed, FailedAt = Now, Errors = new BatchErrors(result.Errors), RequestCounts = new(result.Lines, 0, 0) }
                : null, cancellationToken).ConfigureAwait(false);
            _logger.LogInformation("Batch {BatchId} failed validation: {Errors} error(s)", batchId, result.Errors.Count);
            return;
        }
        var updated = await _batches.UpdateAsync(batchId, r => r.Status == BatchStatus.Validating
            ? r with
            {
                Status = BatchStatus.InProgress,
                InProgressAt = Now,
                ExpiresAt = r.CreatedAt + (long)_options.CompletionWindow.TotalSeconds,
                ChunkCount = result.Chunks.Count,
                DoneChunks = [],
                RequestCounts = new(result.Lines, 0, 0),
            }
            : null, cancellationToken).ConfigureAwait(false);
        if (updated is not { Record.Status: BatchStatus.InProgress }) return;
        await _queue.SendAllAsync(result.Chunks, cancellationToken).ConfigureAwait(false);
        _logger.LogInformation("Batch {BatchId}: {Lines} line(s) in {Chunks} chunk(s)", batchId, result.Lines, result.Chunks.Count);
    }

    internal async Task RunChunkAsync(BatchMessage chunk, CancellationToken cancellationToken, bool poisoned = false)
    {
        var batchId = chunk.BatchId!;
        if (await _batches.GetAsync(batchId, cancellationToken).ConfigureAwait(false) is not { } current)
        {
            _logger.LogWarning("Chunk {Chunk} of batch {BatchId}: no such batch; dropped", chunk.Chunk, batchId);
            return;
        }
        var record = current.Record;
        if (record.DoneChunks?.Contains(chunk.Chunk) == true)
        {
            // Already counted (a redelivery): only help a finalization that may have died.
            if (record.DoneChunks.Count == record.ChunkCount && record.Status is BatchStatus.Finalizing or BatchStatus.Cancelling)
                await FinalizeAsync(batchId, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (BatchStatus.IsFinal(record.Status)) return;

        // Listed in this instance's heartbeat until it is counted: if the instance dies, a sweep sends the chunk again.
        using var hold = _heartbeat?.HoldChunk(JsonSerializer.Serialize(chunk, BatchJson.Line));
        if (hold is not null) await _heartbeat!.PublishAsync(cancellationToken).ConfigureAwait(false);
        var nonce = BatchIds.NewNonce();
        ChunkMarker marker;
        if (record.Status == BatchStatus.Cancelling)
        {
            // Not started before the cancel: never runs.
            marker = new ChunkMarker(chunk.Chunk, nonce, 0, 0, false, false, _instance, Skipped: true);
        }
        else
        {
            marker = await RunLinesAsync(record, chunk, nonce, poisoned, cancellationToken).ConfigureAwait(false);
        }

        var winner = await _batches.WriteMarkerOnceAsync(batchId, marker, cancellationToken).ConfigureAwait(false);
        // One line per chunk (100 lines by default) says which instance answered it: a redelivery that lost logs nothing.
        if (winner.Nonce == nonce)
        {
            _logger.LogInformation("Chunk {Chunk} of batch {BatchId} answered by {Instance}: {Completed} line(s) in the output file, {Failed} in the error file",
                chunk.Chunk, batchId, _instance, marker.Completed, marker.Failed);
        }
        var counted = await _batches.UpdateAsync(batchId, r =>
        {
            var done = r.DoneChunks ?? [];
            if (done.Contains(winner.Chunk)) return null;
            var next = r with
            {
                DoneChunks = [.. done, winner.Chunk],
                RequestCounts = r.RequestCounts with { Completed = r.RequestCounts.Completed + winner.Completed, Failed = r.RequestCounts.Failed + winner.Failed },
            };
            return next.DoneChunks.Count == next.ChunkCount && next.Status == BatchStatus.InProgress
                ? next with { Status = BatchStatus.Finalizing, FinalizingAt = Now }
                : next;
        }, cancellationToken).ConfigureAwait(false);
        if (counted is { Record: var after } && after.DoneChunks?.Count == after.ChunkCount && after.Status is BatchStatus.Finalizing or BatchStatus.Cancelling)
            await FinalizeAsync(batchId, cancellationToken).ConfigureAwait(false);
    }

    private async Task<ChunkMarker> RunLinesAsync(BatchRecord record, BatchMessage chunk, string nonce, bool poisoned, CancellationToken cancellationToken)
    {
        var range = await _files.Blob(record.InputFileId).DownloadContentAsync(new BlobDownloadOptions { Range = new HttpRange(chunk.Offset, chunk.Length) },
            cancellationToken).ConfigureAwait(false);
        var lines = SplitLines(range.Value.Content.ToArray());

        var customIds = lines.Select(CustomIdOf).ToArray();
        // The completion window: a line not finished by expires_at is not run (or is stopped between decode steps) and
        // goes to the error file as batch_expired, as OpenAI does.
        using var expiry = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _time);
        if (record.ExpiresAt is { } expiresAt)
        {
            var left = DateTimeOffset.FromUnixTimeSeconds(expiresAt) - _time.GetUtcNow();
            if (left <= TimeSpan.Zero) await expiry.CancelAsync().ConfigureAwait(false);
            else expiry.CancelAfter(left);
        }
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, expiry.Token);
        var watch = WatchForCancelAsync(record.Id, cancel);
        var results = new BatchLineResult?[lines.Count];
        bool cancelRequested;
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, lines.Count), new ParallelOptions { MaxDegreeOfParallelism = _options.LineConcurrency },
                async (i, _) =>
                {
                    // Between lines: a cancelled or expired batch starts no more of them.
                    if (cancel.IsCancellationRequested) return;
                    if (poisoned)
                    {
                        results[i] = new BatchLineResult(500, null,
                            new BatchLineError("batch_chunk_failed", "This request's chunk failed on every try (see the service's logs); it was not answered."));
                        return;
                    }
                    using var document = JsonDocument.Parse(lines[i]);
                    try
                    {
                        var result = await _runner.RunAsync(record.Endpoint, document.RootElement.GetProperty("body"), cancel.Token).ConfigureAwait(false);
                        // A line the cancel stopped part-way is not answered (as OpenAI: only finished requests are written).
                        results[i] = cancel.IsCancellationRequested && !result.Succeeded ? null : result;
                    }
                    catch (OperationCanceledException) when (cancel.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                    {
                        results[i] = null;
                    }
                }).ConfigureAwait(false);
        }
        finally
        {
            await cancel.CancelAsync().ConfigureAwait(false);
            cancelRequested = await watch.ConfigureAwait(false);
        }
        cancellationToken.ThrowIfCancellationRequested();

        var expired = 0;
        if (expiry.IsCancellationRequested && !cancelRequested)
        {
            for (var i = 0; i < results.Length; i++)
            {
                if (results[i] is not null) continue;
                results[i] = new BatchLineResult(408, null,
                    new BatchLineError("batch_expired", "This request could not be executed before the completion window expired."));
                expired++;
            }
            if (expired > 0) _logger.LogInformation("Chunk {Chunk} of batch {BatchId}: {Expired} line(s) not done within the completion window", chunk.Chunk, record.Id, expired);
        }

        var output = new StringBuilder();
        var errors = new StringBuilder();
        int completed = 0, failed = 0;
        foreach (var (customId, result) in customIds.Zip(results))
        {
            if (result is null) continue;
            var line = new JsonObject
            {
                ["id"] = "batch_req_" + Guid.NewGuid().ToString("N"),
                ["custom_id"] = customId,
                ["response"] = result.Body is null && result.Error is not null ? null : new JsonObject
                {
                    ["status_code"] = result.StatusCode,
                    ["request_id"] = "req_" + Guid.NewGuid().ToString("N"),
                    ["body"] = result.Body?.DeepClone(),
                },
                ["error"] = result.Error is null ? null : new JsonObject { ["code"] = result.Error.Code, ["message"] = result.Error.Message },
            };
            (result.Succeeded ? output : errors).Append(line.ToJsonString(BatchJson.Line)).Append('\n');
            if (result.Succeeded) completed++;
            else failed++;
        }
        var marker = new ChunkMarker(chunk.Chunk, nonce, completed, failed, output.Length > 0, errors.Length > 0, _instance, Skipped: false, expired);
        // Staged, not committed: invisible until finalization commits the winning run's block ids.
        if (marker.HasOutput) await StageAsync(record.ReservedOutputFileId!, marker.BlockId("output"), output, cancellationToken).ConfigureAwait(false);
        if (marker.HasErrors) await StageAsync(record.ReservedErrorFileId!, marker.BlockId("errors"), errors, cancellationToken).ConfigureAwait(false);
        return marker;
    }

    private async Task StageAsync(string fileId, string blockId, StringBuilder lines, CancellationToken cancellationToken)
    {
        await _files.EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        using var content = new MemoryStream(Encoding.UTF8.GetBytes(lines.ToString()));
        await _files.Blob(fileId).StageBlockAsync(blockId, content, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    private static string CustomIdOf(byte[] line)
    {
        using var document = JsonDocument.Parse(line);
        return document.RootElement.GetProperty("custom_id").GetString()!;
    }

    /// <summary>Reads the batch's status every <see cref="BatchOptions.CancelPollInterval"/> while a chunk runs, and cancels
    /// <paramref name="cancel"/> when the batch is being cancelled (that token reaches the decoder). True when it did.</summary>
    private async Task<bool> WatchForCancelAsync(string batchId, CancellationTokenSource cancel)
    {
        try
        {
            while (!cancel.IsCancellationRequested)
            {
                await Task.Delay(_options.CancelPollInterval, _time, cancel.Token).ConfigureAwait(false);
                if (await _statusPoll.GetAsync(batchId, cancel.Token).ConfigureAwait(false) is BatchStatus.Cancelling or BatchStatus.Cancelled)
                {
                    _logger.LogInformation("Batch {BatchId} is being cancelled: stopping its chunk", batchId);
                    await cancel.CancelAsync().ConfigureAwait(false);
                    return true;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (Storage.StorageFailure.Is(e))
        {
            // The chunk runs on; its marker write will meet the outage and retry the message.
            _logger.LogWarning("Could not read batch {BatchId}'s status: {Reason}", batchId, Storage.StorageFailure.Describe(e));
        }
        return false;
    }

    internal static List<byte[]> SplitLines(byte[] content)
    {
        var lines = new List<byte[]>();
        var span = content.AsSpan();
        while (!span.IsEmpty)
        {
            var end = span.IndexOf((byte)'\n');
            var line = end < 0 ? span : span[..end];
            if (!line.Trim(" \t\r"u8).IsEmpty) lines.Add(line.ToArray());
            span = end < 0 ? [] : span[(end + 1)..];
        }
        return lines;
    }

    /// <summary>Commits the output and error files from the winning runs' blocks, in chunk order, and ends the batch.
    /// Safe to run twice (a commit of the same list again is the same file).</summary>
    internal async Task FinalizeAsync(string batchId, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        if (await _batches.GetAsync(batchId, cancellationToken).ConfigureAwait(false) is not { } current || BatchStatus.IsFinal(current.Record.Status)) return;
        var record = current.Record;
        var markers = await _batches.ListMarkersAsync(batchId, cancellationToken).ConfigureAwait(false);
        var counted = record.DoneChunks!.ToHashSet();
        markers = markers.Where(m => counted.Contains(m.Chunk)).ToList();
        var now = _time.GetUtcNow();
        string? outputId = null, errorId = null;
        var outputBlocks = markers.Where(m => m.HasOutput).Select(m => m.BlockId("output")).ToList();
        var errorBlocks = markers.Where(m => m.HasErrors).Select(m => m.BlockId("errors")).ToList();
        if (outputBlocks.Count > 0)
            outputId = (await _files.CommitAsync(record.ReservedOutputFileId!, outputBlocks, $"{batchId}_output.jsonl", "batch_output", now, cancellationToken).ConfigureAwait(false)).Id;
        if (errorBlocks.Count > 0)
            errorId = (await _files.CommitAsync(record.ReservedErrorFileId!, errorBlocks, $"{batchId}_error.jsonl", "batch_output", now, cancellationToken).ConfigureAwait(false)).Id;
        await _batches.UpdateAsync(batchId, r => r.Status switch
        {
            // OpenAI's expired: the window ended before every line ran; what finished is in the output file, the rest
            // (batch_expired) in the error file.
            BatchStatus.Finalizing when markers.Any(m => m.Expired > 0)
                => r with { Status = BatchStatus.Expired, ExpiredAt = now.ToUnixTimeSeconds(), OutputFileId = outputId, ErrorFileId = errorId },
            BatchStatus.Finalizing => r with { Status = BatchStatus.Completed, CompletedAt = now.ToUnixTimeSeconds(), OutputFileId = outputId, ErrorFileId = errorId },
            BatchStatus.Cancelling => r with { Status = BatchStatus.Cancelled, CancelledAt = now.ToUnixTimeSeconds(), OutputFileId = outputId, ErrorFileId = errorId },
            _ => null,
        }, cancellationToken).ConfigureAwait(false);
        _logger.LogInformation("Batch {BatchId} finalized from {Chunks} chunk(s) in {Ms} ms", batchId, markers.Count, clock.ElapsedMilliseconds);
    }

    /// <summary>A JSONL dropped as <c>{"input_blob": "container/name.jsonl", "endpoint": …}</c>: copied in as a file and
    /// started as a batch. The ids come from the message (its id and insertion time), so a redelivery finds the batch the
    /// first delivery created instead of starting a second.</summary>
    private async Task StartDroppedAsync(BatchMessage message, string messageId, DateTimeOffset insertedOn, CancellationToken cancellationToken)
    {
        var endpoint = message.Endpoint ?? "/v1/completions";
        var slash = message.InputBlob!.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == message.InputBlob.Length - 1 || !BatchesApi.Endpoints.Contains(endpoint))
        {
            _logger.LogWarning("Dropped batch message {MessageId}: input_blob must be \"container/name\" and endpoint one of {Endpoints}; dropped",
                messageId, string.Join(", ", BatchesApi.Endpoints));
            return;
        }
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(messageId)));
        var ticks = (DateTimeOffset.MaxValue.Ticks - insertedOn.UtcTicks).ToString("D19", System.Globalization.CultureInfo.InvariantCulture);
        var batchId = BatchIds.BatchPrefix + ticks + hash[..12];
        var fileId = BatchIds.FilePrefix + ticks + hash[12..24];
        if (await _batches.GetAsync(batchId, cancellationToken).ConfigureAwait(false) is null)
        {
            if (await _files.GetAsync(fileId, cancellationToken).ConfigureAwait(false) is null)
            {
                var source = _blobs.GetBlobContainerClient(message.InputBlob[..slash]).GetBlobClient(message.InputBlob[(slash + 1)..]);
                Stream content;
                try
                {
                    content = (await source.DownloadStreamingAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Value.Content;
                }
                catch (RequestFailedException e) when (e.Status == 404)
                {
                    _logger.LogWarning("Dropped batch message {MessageId}: blob {Blob} does not exist; dropped", messageId, message.InputBlob);
                    return;
                }
                await using (content.ConfigureAwait(false))
                {
                    using var buffered = new MemoryStream();
                    await content.CopyToAsync(buffered, cancellationToken).ConfigureAwait(false);
                    buffered.Position = 0;
                    try
                    {
                        await _files.UploadAsync(fileId, buffered, Path.GetFileName(message.InputBlob), "batch", insertedOn, cancellationToken).ConfigureAwait(false);
                    }
                    catch (RequestFailedException e) when (e.Status == 409)
                    {
                        // Another delivery copied it first.
                    }
                }
            }
            try
            {
                await _batches.CreateAsync(BatchesApi.NewRecord(batchId, fileId, endpoint, message.Metadata, insertedOn), cancellationToken).ConfigureAwait(false);
            }
            catch (RequestFailedException e) when (e.Status == 409)
            {
            }
        }
        _logger.LogInformation("Dropped blob {Blob} is batch {BatchId}", message.InputBlob, batchId);
        await ValidateAsync(batchId, cancellationToken).ConfigureAwait(false);
    }
}
