using System.Text.Json;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

public sealed class SubmitValidationFixture : IAsyncLifetime
{
    internal JobsTestHost Host { get; private set; } = null!;
    public async Task InitializeAsync() =>
        Host = await JobsTestHost.CreateAsync(settings: new Dictionary<string, string?> { ["Jobs:MaxPromptsPerJob"] = "3" });
    public async Task DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>Every rejected submit is a 400 problem+json naming each bad field, and nothing reaches the queue or the store.</summary>
public sealed class SubmitValidationTests(SubmitValidationFixture fixture) : IClassFixture<SubmitValidationFixture>
{
    public static TheoryData<string, string[]> Cases => new()
    {
        { """{"prompt": "hi", """, ["body"] },                                            // malformed JSON
        { "", ["body"] },                                                                  // no body
        { "[\"hi\"]", ["body"] },                                                          // not an object
        { """{"parameters": {"max_new_tokens": 5}}""", ["prompt"] },                       // missing prompt
        { """{"prompt": "a", "prompts": ["b"]}""", ["prompt"] },                           // both
        { """{"prompt": "   "}""", ["prompt"] },                                           // blank
        { """{"prompt": 42}""", ["prompt"] },                                              // wrong type
        { """{"prompts": []}""", ["prompts"] },                                            // empty list
        { """{"prompts": ["a", "b", "c", "d"]}""", ["prompts"] },                          // over the limit (3 here)
        { """{"prompts": ["a", 7, "c"]}""", ["prompts[1]"] },
        { """{"prompts": ["a", "b", ""]}""", ["prompts[2]"] },
        { """{"prompt": "a", "id": "mine"}""", ["id"] },                                    // ids are assigned by the server
        { """{"prompt": "a", "temperature": 0.5}""", ["temperature"] },                    // parameter outside "parameters"
        { """{"prompt": "a", "parameters": {"max_tokens": 5}}""", ["parameters.max_tokens"] }, // unknown parameter
        { """{"prompt": "a", "parameters": {"top_p": 1.5}}""", ["parameters.top_p"] },     // out of range (GenerationOptions.Validate)
        { """{"prompt": "a", "parameters": {"max_new_tokens": 100000}}""", ["parameters.max_new_tokens"] }, // over the ceiling
        { """{"prompt": "a", "parameters": {"temperature": "hot"}}""", ["parameters.temperature"] },
        { """{"prompt": "a", "parameters": {"num_beams": 2.5}}""", ["parameters.num_beams"] },
        { """{"prompt": "a", "parameters": {"truncation": "middle"}}""", ["parameters.truncation"] },
        { """{"prompt": "a", "parameters": [1, 2]}""", ["parameters"] },
        // Several problems at once: all of them are named.
        { """{"prompts": ["ok", "", 3], "parameters": {"top_p": -1, "bogus": true, "top_k": "x"}, "extra": 1}""",
            ["prompts[1]", "prompts[2]", "parameters.top_p", "parameters.bogus", "parameters.top_k", "extra"] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Invalid_submit_is_400_naming_every_bad_field_and_enqueues_nothing(string body, string[] fields)
    {
        var host = fixture.Host;
        var reply = await host.SubmitAsync(body);

        Assert.Equal(400, reply.Status);
        Assert.StartsWith("application/problem+json", reply.ContentType);
        Assert.Equal(400, reply.Body.GetProperty("status").GetInt32());
        foreach (var member in new[] { "type", "title", "detail" })
            Assert.False(string.IsNullOrWhiteSpace(reply.Body.GetProperty(member).GetString()), member);
        Assert.Equal(fields.Order(StringComparer.Ordinal), reply.Errors.Keys.Order(StringComparer.Ordinal));
        Assert.All(reply.Errors.Values, messages => Assert.All(messages, m => Assert.False(string.IsNullOrWhiteSpace(m))));

        Assert.Empty(await host.PeekAllAsync());
        if (await host.Jobs.ExistsAsync())
        {
            await foreach (var blob in host.Jobs.GetBlobsAsync())
                Assert.Fail($"A rejected submit wrote {blob.Name}.");
        }
    }

    [Fact]
    public async Task Out_of_range_parameter_message_says_what_is_allowed()
    {
        var reply = await fixture.Host.SubmitAsync("""{"prompt": "a", "parameters": {"top_p": 1.5, "max_tokens": 3}}""");
        Assert.Contains("top_p", reply.Errors["parameters.top_p"][0]);
        Assert.Contains("max_new_tokens", reply.Errors["parameters.max_tokens"][0]); // lists the known names
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("a/b")]
    [InlineData("a.json")]
    [InlineData("x%2Fy")]
    [InlineData("")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")] // 65 characters
    public async Task Get_with_a_malformed_id_is_400(string id)
    {
        var reply = await fixture.Host.GetAsync(id);
        Assert.Equal(400, reply.Status);
        Assert.StartsWith("application/problem+json", reply.ContentType);
        Assert.Contains("id", reply.Errors.Keys);
    }

    [Fact]
    public async Task Get_of_an_unknown_id_is_404_problem()
    {
        var reply = await fixture.Host.GetAsync(new string('a', 64));
        Assert.Equal(404, reply.Status);
        Assert.StartsWith("application/problem+json", reply.ContentType);
        Assert.Equal(404, reply.Body.GetProperty("status").GetInt32());
        Assert.Equal(JsonValueKind.String, reply.Body.GetProperty("type").ValueKind);
    }
}
