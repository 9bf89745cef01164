using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Serverless.Functions.Tests.Infrastructure;
using Serverless.Inference.Tokenization;

namespace Serverless.Functions.Tests;

/// <summary>A local host that requires a function key, as the Functions host does in Azure.</summary>
public class KeyedHostFixture : LocalHostFixture
{
    public const string FunctionKey = "playground-test-key-0001";

    protected override IEnumerable<string> Settings => [$"LocalHost:FunctionKey={FunctionKey}"];

    /// <summary>Sends no key.</summary>
    public HttpClient Anonymous { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Anonymous = new HttpClient { BaseAddress = Http.BaseAddress, Timeout = Http.Timeout };
        Http.DefaultRequestHeaders.Add("x-functions-key", FunctionKey);
    }

    public override async Task DisposeAsync()
    {
        Anonymous?.Dispose();
        await base.DisposeAsync();
    }
}

/// <summary><c>POST /api/tokenize</c> on the local host: the model's ids and pieces, its window, and what its files say.</summary>
public sealed class TokenizeTests(KeyedHostFixture host) : IClassFixture<KeyedHostFixture>
{
    private const string Prompt = "Where is Ganymede located in the solar system?";

    [Fact]
    public async Task Ids_and_pieces_are_the_model_tokenizers_with_the_end_of_sequence_token()
    {
        var result = await TokenizeAsync(new { inputs = Prompt });

        var tokenizer = T5Tokenizer.FromFile(Path.Combine(Paths.DemoModelDirectory, "spiece.model"));
        var expected = tokenizer.Encode(Prompt);
        Assert.Equal(expected, result.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(expected.Select(tokenizer.IdToPiece), result.GetProperty("pieces").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("</s>", result.GetProperty("pieces").EnumerateArray().Last().GetString());
        Assert.Equal(expected.Length, result.GetProperty("input_tokens").GetInt32());
        Assert.Equal(512, result.GetProperty("context_window").GetInt32());
    }

    [Fact]
    public async Task The_count_is_the_one_a_completion_reports_for_the_same_prompt()
    {
        var result = await TokenizeAsync(new { prompt = "Translate to German: good morning" });

        using var completion = await host.Http.PostAsJsonAsync("api/completions", new { prompt = "Translate to German: good morning", parameters = new { max_new_tokens = 2 } });
        using var final = JsonDocument.Parse(await completion.Content.ReadAsStringAsync());
        Assert.Equal(final.RootElement.GetProperty("input_tokens").GetInt32(), result.GetProperty("input_tokens").GetInt32());
        Assert.Equal(final.RootElement.GetProperty("context_window").GetInt32(), result.GetProperty("context_window").GetInt32());
    }

    [Fact]
    public async Task The_demo_model_is_reported_as_random_weights_with_its_generation_defaults()
    {
        var model = (await TokenizeAsync(new { inputs = "x" })).GetProperty("model");

        // models/demo/config.json has "random_weights": true; its generation_config.json sets no generation parameter.
        Assert.True(model.GetProperty("random_weights").GetBoolean());
        var defaults = model.GetProperty("generation_defaults");
        Assert.Equal(64, defaults.GetProperty("max_new_tokens").GetInt32());
        Assert.False(defaults.GetProperty("do_sample").GetBoolean());
        Assert.False(defaults.TryGetProperty("seed", out _)); // not a generation_config.json parameter
    }

    [Fact]
    public async Task An_empty_text_is_just_the_end_of_sequence_token()
    {
        var result = await TokenizeAsync(new { inputs = "" });

        Assert.Equal([1], result.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
    }

    [Theory]
    [InlineData("""{"inputs": 5}""", "inputs")]
    [InlineData("""{"prompt": ["a"]}""", "prompt")]
    [InlineData("""{}""", "inputs")]
    [InlineData("""{"inputs": "a", "prompt": "b"}""", "inputs")]
    [InlineData("""{"inputs": "a", "text": "b"}""", "text")]
    [InlineData("""{"inputs": "lone \ud800 surrogate"}""", "inputs")]
    [InlineData("""["a"]""", "body")]
    [InlineData("""{"inputs": """, "body")]
    [InlineData("", "body")]
    public async Task Bad_requests_answer_400_problem_json_naming_the_field(string body, string field)
    {
        using var response = await host.Http.PostAsync("api/tokenize", new StringContent(body, Encoding.UTF8, "application/json"));

        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
    }

    [Fact]
    public async Task A_body_over_the_completions_limit_answers_413_problem_json_naming_the_body()
    {
        using var response = await host.Http.PostAsJsonAsync("api/tokenize", new { inputs = new string('a', 64 * 1024) });

        var problem = await ProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.True(problem.GetProperty("errors").TryGetProperty("body", out _), problem.ToString());
    }

    [Fact]
    public async Task Without_the_function_key_it_is_401()
    {
        using var response = await host.Anonymous.PostAsJsonAsync("api/tokenize", new { inputs = Prompt });

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    private async Task<JsonElement> TokenizeAsync(object body)
    {
        using var response = await host.Http.PostAsJsonAsync("api/tokenize", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }
}
