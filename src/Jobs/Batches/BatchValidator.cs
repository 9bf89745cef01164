using System.Text.Json;

namespace Serverless.Jobs.Batches;

/// <summary>
/// Checks a batch's input file and cuts it into chunks. Every line must be a JSON object with a string <c>custom_id</c>
/// unique in the file, <c>method</c> POST, <c>url</c> equal to the batch's endpoint and an object <c>body</c>; the lines
/// must name one model (or none); blank lines are skipped; at most <see cref="BatchOptions.MaxLines"/> lines. The first
/// 100 problems are reported, each naming its 1-based line. A line's body is checked further only when it runs (a bad body
/// is that line's error, not the batch's).
/// </summary>
internal static class BatchValidator
{
    private const int MaxReported = 100;

    public sealed record Result(IReadOnlyList<BatchValidationError> Errors, IReadOnlyList<BatchMessage> Chunks, int Lines);

    public static Result Validate(ReadOnlySpan<byte> file, string batchId, string endpoint, BatchOptions options)
    {
        var errors = new List<BatchValidationError>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        string? model = null;
        var chunks = new List<BatchMessage>();
        var lines = 0;
        long chunkStart = -1;
        int chunkFirstLine = 0, inChunk = 0;
        long position = 0;
        var lineNumber = 0;

        void Add(BatchValidationError error)
        {
            if (errors.Count < MaxReported) errors.Add(error);
        }

        while (position < file.Length)
        {
            lineNumber++;
            var rest = file[(int)position..];
            var end = rest.IndexOf((byte)'\n');
            var lineLength = end < 0 ? rest.Length : end + 1;
            var line = rest[..(end < 0 ? rest.Length : end)];
            var lineStart = position;
            position += lineLength;
            if (line.Trim(" \t\r"u8).IsEmpty) continue;

            lines++;
            if (lines > options.MaxLines)
            {
                Add(new BatchValidationError("too_many_requests", $"The file has more than {options.MaxLines} requests (the limit per batch, setting Batches__MaxLines); split it.", lineNumber));
                break;
            }
            CheckLine(line, lineNumber, endpoint, ids, ref model, Add);

            if (inChunk == 0)
            {
                chunkStart = lineStart;
                chunkFirstLine = lineNumber;
            }
            inChunk++;
            if (inChunk == options.ChunkSize)
            {
                chunks.Add(Chunk(batchId, chunks.Count, chunkStart, position, chunkFirstLine));
                inChunk = 0;
            }
        }
        if (inChunk > 0) chunks.Add(Chunk(batchId, chunks.Count, chunkStart, position, chunkFirstLine));
        if (lines == 0) Add(new BatchValidationError("empty_file", "The input file holds no requests."));
        return new Result(errors, errors.Count == 0 ? chunks : [], lines);
    }

    private static BatchMessage Chunk(string batchId, int index, long start, long end, int firstLine) =>
        new() { Kind = BatchMessage.ChunkKind, BatchId = batchId, Chunk = index, Offset = start, Length = checked((int)(end - start)), FirstLine = firstLine };

    private static void CheckLine(ReadOnlySpan<byte> line, int number, string endpoint, HashSet<string> ids, ref string? model, Action<BatchValidationError> add)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line.ToArray());
        }
        catch (JsonException e)
        {
            add(new BatchValidationError("invalid_json_line", $"Line {number} is not valid JSON: {e.Message}", number));
            return;
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                add(new BatchValidationError("invalid_json_line", $"Line {number} is not a JSON object.", number));
                return;
            }
            if (!root.TryGetProperty("custom_id", out var id) || id.ValueKind != JsonValueKind.String || id.GetString()!.Length == 0)
                add(new BatchValidationError("missing_required_parameter", $"Line {number} has no custom_id (a non-empty string).", number, "custom_id"));
            else if (!ids.Add(id.GetString()!))
                add(new BatchValidationError("duplicate_custom_id", $"Line {number} repeats custom_id '{id.GetString()}'; each request needs its own.", number, "custom_id"));
            if (!root.TryGetProperty("method", out var method) || method.ValueKind != JsonValueKind.String || method.GetString() != "POST")
                add(new BatchValidationError("invalid_request", $"Line {number}: method must be \"POST\".", number, "method"));
            if (!root.TryGetProperty("url", out var url) || url.ValueKind != JsonValueKind.String)
                add(new BatchValidationError("missing_required_parameter", $"Line {number} has no url.", number, "url"));
            else if (url.GetString() != endpoint)
                add(new BatchValidationError("mismatched_endpoint", $"Line {number} is for {url.GetString()} but the batch's endpoint is {endpoint}; one batch takes one endpoint.", number, "url"));
            if (!root.TryGetProperty("body", out var body) || body.ValueKind != JsonValueKind.Object)
            {
                add(new BatchValidationError("missing_required_parameter", $"Line {number} has no body (a JSON object).", number, "body"));
                return;
            }
            if (body.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String)
            {
                var name = m.GetString()!;
                if (model is null) model = name;
                else if (model != name)
                    add(new BatchValidationError("mismatched_model", $"Line {number} names model '{name}' but earlier lines name '{model}'; one batch takes one model.", number, "body.model"));
            }
        }
    }
}
