using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Serverless.Functions.Tests.Infrastructure;

namespace Serverless.Functions.Tests;

/// <summary>
/// Bodies whose strings are not valid text (invalid UTF-8 bytes, a lone surrogate escape) in a prompt, a stop string
/// or a field name: over real HTTP they get 400 problem+json naming the field, not a 500 with an empty body.
/// </summary>
public sealed class UnreadableTextHttpTests(LocalHostFixture host) : IClassFixture<LocalHostFixture>
{
    public static TheoryData<byte[], string> Bodies => new()
    {
        { Encoding.UTF8.GetBytes("""{"prompt": "lone \ud800 surrogate"}"""), "prompt" },
        { [.. "{\"prompt\": \"bad "u8, 0xC3, 0x28, .. " utf8\"}"u8], "prompt" },
        { Encoding.UTF8.GetBytes("""{"prompts": ["ok", "\udfff"]}"""), "prompts[1]" },
        { Encoding.UTF8.GetBytes("""{"prompt": "hi", "parameters": {"stop_strings": ["\ud800"]}}"""), "parameters.stop_strings[0]" },
        { [.. "{\"prompt\": \"hi\", \"parameters\": {\"stop_strings\": [\""u8, 0xFF, .. "\"]}}"u8], "parameters.stop_strings[0]" },
        { Encoding.UTF8.GetBytes("""{"prompt": "hi", "\udc00x": 1}"""), "body" },
    };

    [Theory]
    [MemberData(nameof(Bodies))]
    public async Task Unreadable_text_gets_400_problem_json_naming_the_field(byte[] body, string field)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        using var response = await host.Http.PostAsync("api/jobs", content);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var errors = problem.RootElement.GetProperty("errors");
        Assert.True(errors.TryGetProperty(field, out var messages), $"errors does not name {field}: {errors.GetRawText()}");
        Assert.Contains("not valid Unicode", messages.GetRawText());
    }
}
