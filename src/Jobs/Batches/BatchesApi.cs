using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;
using Serverless.Jobs.Http;
using Serverless.Jobs.OpenAi;

namespace Serverless.Jobs.Batches;

/// <summary>
/// OpenAI's Batches API: <c>POST /v1/batches</c> records the batch (<c>validating</c>) and queues its validation — so it
/// answers in milliseconds whatever the file's size —, <c>GET /v1/batches[/{id}]</c>, <c>POST /v1/batches/{id}/cancel</c>.
/// </summary>
public sealed class BatchesApi
{
    /// <summary>The endpoints a batch may target.</summary>
    public static readonly IReadOnlySet<string> Endpoints = new HashSet<string>(StringComparer.Ordinal) { "/v1/completions", "/v1/chat/completions" };

    private readonly BatchStore _batches;
    private readonly FileStore _files;
    private readonly BatchQueue _queue;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ApiKeyCheck _keys;

    internal BatchesApi(BatchStore batches, FileStore files, BatchQueue queue, TimeProvider time, ApiKeyCheck keys, ILogger<BatchesApi> logger)
    {
        _keys = keys;
        _batches = batches;
        _files = files;
        _queue = queue;
        _time = time;
        _logger = logger;
    }

    internal static BatchRecord NewRecord(string id, string inputFileId, string endpoint, IReadOnlyDictionary<string, string>? metadata, DateTimeOffset now) => new()
    {
        Id = id,
        Endpoint = endpoint,
        InputFileId = inputFileId,
        CreatedAt = now.ToUnixTimeSeconds(),
        ExpiresAt = now.AddHours(24).ToUnixTimeSeconds(),
        Metadata = metadata,
        ReservedOutputFileId = BatchIds.NewFileId(now),
        ReservedErrorFileId = BatchIds.NewFileId(now),
    };

    public async Task<IActionResult> CreateAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_keys.Check(request) is { } refused) return refused;
        var bytes = await RequestBody.ReadAsync(request, 64 * 1024, cancellationToken).ConfigureAwait(false);
        if (bytes is null) return OpenAiError.Of(413, "The request body is larger than 64 KiB.");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes);
        }
        catch (JsonException e)
        {
            return OpenAiError.Of(400, "The body is not JSON: " + e.Message);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return OpenAiError.Of(400, "The body must be a JSON object.");
            if (!root.TryGetProperty("input_file_id", out var input) || input.ValueKind != JsonValueKind.String)
                return OpenAiError.Of(400, "input_file_id is required: the id of a file uploaded with purpose 'batch'.", "input_file_id");
            if (!root.TryGetProperty("endpoint", out var endpoint) || endpoint.ValueKind != JsonValueKind.String || !Endpoints.Contains(endpoint.GetString()!))
                return OpenAiError.Of(400, $"endpoint must be one of {string.Join(", ", Endpoints)}.", "endpoint");
            if (!root.TryGetProperty("completion_window", out var window) || window.ValueKind != JsonValueKind.String || window.GetString() != "24h")
                return OpenAiError.Of(400, "completion_window must be '24h'.", "completion_window");
            Dictionary<string, string>? metadata = null;
            if (root.TryGetProperty("metadata", out var m) && m.ValueKind != JsonValueKind.Null)
            {
                if (m.ValueKind != JsonValueKind.Object || m.EnumerateObject().Any(p => p.Value.ValueKind != JsonValueKind.String) || m.EnumerateObject().Count() > 16)
                    return OpenAiError.Of(400, "metadata must be an object of at most 16 string values.", "metadata");
                metadata = m.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
            }
            var fileId = input.GetString()!;
            var file = await _files.GetAsync(fileId, cancellationToken).ConfigureAwait(false);
            if (file is null) return OpenAiError.Of(404, $"No such File object: {fileId}", "input_file_id");
            if (file.Purpose != "batch") return OpenAiError.Of(400, $"File {fileId} has purpose '{file.Purpose}', not 'batch'.", "input_file_id");

            var now = _time.GetUtcNow();
            var record = NewRecord(BatchIds.NewBatchId(now), fileId, endpoint.GetString()!, metadata, now);
            await _batches.CreateAsync(record, cancellationToken).ConfigureAwait(false);
            await _queue.SendAsync(new BatchMessage { Kind = BatchMessage.Validate, BatchId = record.Id }, cancellationToken).ConfigureAwait(false);
            _logger.LogInformation("Batch {BatchId} created over file {FileId} ({Bytes} bytes)", record.Id, fileId, file.Bytes);
            return new JobsHttpResult(200, record.Public());
        }
    }

    public async Task<IActionResult> GetAsync(HttpRequest request, string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_keys.Check(request) is { } refused) return refused;
        return await _batches.GetAsync(id, cancellationToken).ConfigureAwait(false) is { } r ? new JobsHttpResult(200, r.Record.Public()) : NotFound(id);
    }

    public async Task<IActionResult> ListAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_keys.Check(request) is { } refused) return refused;
        if (!ListPage.TryRead(request, out var limit, out var after, out var refusal)) return refusal!;
        var records = await _batches.ListAsync(after, limit, cancellationToken).ConfigureAwait(false);
        return ListPage.Result(records, limit, r => r.Id, r => r.Public());
    }

    /// <summary>Validating or in progress → <c>cancelling</c>; the chunks then stop (see <see cref="BatchWorker"/>) and the
    /// last one to finish makes it <c>cancelled</c>. A final batch answers 409 with its status.</summary>
    public async Task<IActionResult> CancelAsync(HttpRequest request, string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_keys.Check(request) is { } refused) return refused;
        var now = _time.GetUtcNow().ToUnixTimeSeconds();
        var updated = await _batches.UpdateAsync(id, r => r.Status is BatchStatus.Validating or BatchStatus.InProgress
            ? r with { Status = BatchStatus.Cancelling, CancellingAt = now }
            : null, cancellationToken).ConfigureAwait(false);
        if (updated is not { } u) return NotFound(id);
        if (!u.Changed && u.Record.Status is not BatchStatus.Cancelling and not BatchStatus.Cancelled)
            return OpenAiError.Of(409, $"Batch {id} is {u.Record.Status} and cannot be cancelled.", "id");
        if (u.Changed && u.Record.ChunkCount is null)
        {
            // Still validating: the validation message ends it as cancelled. Nudge it in case that already ran.
            await _queue.SendAsync(new BatchMessage { Kind = BatchMessage.Validate, BatchId = id }, cancellationToken).ConfigureAwait(false);
        }
        _logger.LogInformation("Batch {BatchId} is being cancelled", id);
        return new JobsHttpResult(200, u.Record.Public());
    }

    private static OpenAiError NotFound(string id) => OpenAiError.Of(404, $"No such Batch object: {id}", "id");
}
