using System.Text;
using System.Text.Json;
using Serverless.Jobs.Batches;

namespace Serverless.Jobs.Tests.Batches;

public sealed class BatchValidatorTests
{
    private static readonly BatchOptions Options = new() { ChunkSize = 2, MaxLines = 5 };

    private static string Line(string id, string url = "/v1/completions") =>
        JsonSerializer.Serialize(new { custom_id = id, method = "POST", url, body = new { prompt = id } });

    [Fact]
    public void Chunks_cover_every_line_once_by_byte_range_skipping_blank_lines()
    {
        var text = string.Join('\n', Line("a"), "", Line("b"), Line("c"), "  ", Line("d"), Line("e")) + "\n";
        var bytes = Encoding.UTF8.GetBytes(text);

        var result = BatchValidator.Validate(bytes, "batch_x", "/v1/completions", Options);

        Assert.Empty(result.Errors);
        Assert.Equal(5, result.Lines);
        Assert.Equal([1, 4, 7], result.Chunks.Select(c => c.FirstLine));
        var ids = result.Chunks.SelectMany(c => BatchWorker.SplitLines(bytes.AsSpan((int)c.Offset, c.Length).ToArray()))
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("custom_id").GetString());
        Assert.Equal(["a", "b", "c", "d", "e"], ids);
    }

    [Fact]
    public void A_file_over_the_line_limit_fails_naming_the_first_line_over()
    {
        var text = string.Join('\n', Enumerable.Range(0, 7).Select(i => Line($"l{i}")));

        var result = BatchValidator.Validate(Encoding.UTF8.GetBytes(text), "batch_x", "/v1/completions", Options);

        var error = Assert.Single(result.Errors);
        Assert.Equal(("too_many_requests", 6), (error.Code, error.Line));
        Assert.Empty(result.Chunks);
    }

    [Fact]
    public void A_line_without_a_body_or_with_another_method_is_named()
    {
        var text = string.Join('\n', """{"custom_id":"a","method":"GET","url":"/v1/completions","body":{}}""", """{"custom_id":"b","method":"POST","url":"/v1/completions"}""");

        var result = BatchValidator.Validate(Encoding.UTF8.GetBytes(text), "batch_x", "/v1/completions", Options);

        Assert.Equal([("method", 1), ("body", 2)], result.Errors.Select(e => (e.Param, e.Line ?? 0)));
    }
}
