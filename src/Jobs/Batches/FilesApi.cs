using System.Globalization;
using Azure;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;
using Serverless.Jobs.Http;
using Serverless.Jobs.OpenAi;

namespace Serverless.Jobs.Batches;

/// <summary>
/// OpenAI's Files API for batch input: <c>POST /v1/files</c> (multipart, <c>purpose=batch</c>, at most
/// <see cref="BatchOptions.MaxFileBytes"/>, else 413), <c>GET /v1/files[/{id}[/content]]</c>, <c>DELETE /v1/files/{id}</c>.
/// </summary>
public sealed class FilesApi
{
    private readonly FileStore _files;
    private readonly BatchOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ApiKeyCheck _keys;

    internal FilesApi(FileStore files, BatchOptions options, TimeProvider time, ApiKeyCheck keys, ILogger<FilesApi> logger)
    {
        _keys = keys;
        _files = files;
        _options = options;
        _time = time;
        _logger = logger;
    }

    public async Task<IActionResult> UploadAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_keys.Check(request) is { } refused) return refused;
        // A multipart body carries a few hundred bytes of headers around the file.
        var limit = _options.MaxFileBytes + 64 * 1024;
        if (request.ContentLength > limit) return TooLarge();
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size) size.MaxRequestBodySize = limit;
        if (!request.HasFormContentType)
            return OpenAiError.Of(400, "Upload the file as multipart/form-data with fields 'file' and 'purpose'.", "file");

        IFormCollection form;
        try
        {
            form = await request.ReadFormAsync(new FormOptions { MultipartBodyLengthLimit = limit, ValueLengthLimit = 1024 }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidDataException or BadHttpRequestException)
        {
            return e.Message.Contains("limit", StringComparison.OrdinalIgnoreCase) || e is BadHttpRequestException { StatusCode: 413 }
                ? TooLarge()
                : OpenAiError.Of(400, "The multipart body could not be read: " + e.Message, "file");
        }
        var purpose = form["purpose"].ToString();
        if (purpose != "batch")
            return OpenAiError.Of(400, $"purpose must be 'batch' (got '{purpose}'); this service keeps files for the Batches API only.", "purpose");
        if (form.Files.GetFile("file") is not { } file)
            return OpenAiError.Of(400, "The form has no 'file' part.", "file");
        if (file.Length > _options.MaxFileBytes) return TooLarge();

        var id = BatchIds.NewFileId(_time.GetUtcNow());
        await using var content = file.OpenReadStream();
        var created = await _files.UploadAsync(id, content, string.IsNullOrEmpty(file.FileName) ? "upload.jsonl" : file.FileName, purpose, _time.GetUtcNow(),
            cancellationToken).ConfigureAwait(false);
        _logger.LogInformation("File {FileId} uploaded: {Bytes} bytes", id, created.Bytes);
        return new JobsHttpResult(200, created);
    }

    private OpenAiError TooLarge() =>
        OpenAiError.Of(413, $"The file is larger than {_options.MaxFileBytes} bytes, the limit (setting Batches__MaxFileBytes). Split it into several batches.",
            "file", "file_too_large");

    public async Task<IActionResult> GetAsync(HttpRequest request, string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_keys.Check(request) is { } refused) return refused;
        return await _files.GetAsync(id, cancellationToken).ConfigureAwait(false) is { } file ? new JobsHttpResult(200, file) : NotFound(id);
    }

    public async Task<IActionResult> ContentAsync(HttpRequest request, string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_keys.Check(request) is { } refused) return refused;
        return await _files.OpenReadAsync(id, cancellationToken).ConfigureAwait(false) is { } stream ? new StreamResult(stream, "application/jsonl") : NotFound(id);
    }

    public async Task<IActionResult> DeleteAsync(HttpRequest request, string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_keys.Check(request) is { } refused) return refused;
        return await _files.DeleteAsync(id, cancellationToken).ConfigureAwait(false)
            ? new JobsHttpResult(200, new Dictionary<string, object> { ["id"] = id, ["object"] = "file", ["deleted"] = true })
            : NotFound(id);
    }

    /// <summary><c>GET /v1/files?purpose=&amp;limit=&amp;after=</c>: newest first, OpenAI's list object.</summary>
    public async Task<IActionResult> ListAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_keys.Check(request) is { } refused) return refused;
        if (!ListPage.TryRead(request, out var limit, out var after, out var refusal)) return refusal!;
        var purpose = request.Query["purpose"].ToString() is { Length: > 0 } p ? p : null;
        var files = await _files.ListAsync(purpose, after, limit, cancellationToken).ConfigureAwait(false);
        return ListPage.Result(files, limit, f => f.Id);
    }

    private static OpenAiError NotFound(string id) => OpenAiError.Of(404, $"No such File object: {id}", "id");
}

/// <summary>OpenAI's cursor lists: <c>limit</c> (1–100, default 20) and <c>after</c> (an id); answers
/// <c>{"object": "list", "data", "first_id", "last_id", "has_more"}</c>.</summary>
internal static class ListPage
{
    public static bool TryRead(HttpRequest request, out int limit, out string? after, out IActionResult? refusal)
    {
        limit = 20;
        after = request.Query["after"].ToString() is { Length: > 0 } a ? a : null;
        refusal = null;
        if (request.Query["limit"].ToString() is { Length: > 0 } text &&
            (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 10_000))
        {
            refusal = OpenAiError.Of(400, $"limit must be an integer from 1 to 10000, not '{text}'.", "limit");
            return false;
        }
        return true;
    }

    public static JobsHttpResult Result<T>(List<T> items, int limit, Func<T, string> id, Func<T, object>? view = null)
    {
        var hasMore = items.Count > limit;
        var page = items.Take(limit).ToList();
        return new JobsHttpResult(200, new Dictionary<string, object?>
        {
            ["object"] = "list",
            ["data"] = page.Select(item => view is null ? item! : view(item)).ToList(),
            ["first_id"] = page.Count > 0 ? id(page[0]) : null,
            ["last_id"] = page.Count > 0 ? id(page[^1]) : null,
            ["has_more"] = hasMore,
        });
    }
}
