using System.Net;
using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Functions.Tests.Infrastructure;
using Serverless.Jobs.Completions;

namespace Serverless.Functions.Tests;

/// <summary>A host whose completions may run long enough to be interrupted (the ceiling and the limit raised).</summary>
public sealed class CompletionsHostFixture : LocalHostFixture
{
    public const int MaxNewTokens = 20_000;

    protected override IEnumerable<string> Settings =>
        [$"Completions:MaxNewTokens={MaxNewTokens}", "Inference:MaxNewTokensCeiling=100000", "Completions:MaxRequestBodyBytes=4096"];
}

/// <summary><c>POST /api/completions</c> over real HTTP on the local host, its event stream read by .NET's own
/// server-sent-events parser (<see cref="SseParser"/>).</summary>
public sealed class CompletionsTests(CompletionsHostFixture host) : IClassFixture<CompletionsHostFixture>
{
    private const string Prompt = "Where is Ganymede located in the solar system?";

    [Fact]
    public async Task Streamed_tokens_come_in_order_and_concatenate_to_the_final_text()
    {
        var events = await StreamAsync(new { prompt = Prompt, stream = true, parameters = new { max_new_tokens = 24, min_new_tokens = 24 } });

        var tokens = events.Tokens(0);
        var final = events.Final(0);
        Assert.Equal(24, tokens.Count);
        Assert.Equal(24, final.GetProperty("output_tokens").GetInt32());
        Assert.Equal(final.GetProperty("generated_text").GetString(), string.Concat(tokens.Select(t => t.Text)));
        Assert.Equal("length", final.GetProperty("finish_reason").GetString());
        Assert.True(final.GetProperty("input_tokens").GetInt32() > 5);
        Assert.Equal(512, final.GetProperty("context_window").GetInt32());
        Assert.True(final.GetProperty("total_ms").GetDouble() > 0);
        Assert.True(events.EndsWithDone);
    }

    [Fact]
    public async Task Accept_text_event_stream_streams_and_the_json_answer_equals_the_streamed_final_object()
    {
        // Greedy: the same request gives the same tokens; timings differ, so compare everything else.
        var spec = new { inputs = Prompt, parameters = new { max_new_tokens = 12 } };
        var events = await StreamAsync(spec, acceptEventStream: true);

        using var response = await host.Http.PostAsync("api/completions", Json(spec));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(WithoutTimings(events.Final(0)), WithoutTimings(document.RootElement));
    }

    [Fact]
    public async Task Several_prompts_stream_one_after_the_other_with_their_index()
    {
        string[] prompts = ["Name a moon of Jupiter.", "What is Io?"];
        var events = await StreamAsync(new { prompts, stream = true, parameters = new { max_new_tokens = 5, min_new_tokens = 5 } });

        Assert.Equal([0, 1], events.FinalObjects.Select(f => f.GetProperty("index").GetInt32()));
        Assert.Equal(5, events.Tokens(0).Count);
        Assert.Equal(5, events.Tokens(1).Count);
        Assert.True(events.LastTokenIndexBeforeFinal(0) < events.FirstTokenIndex(1));
    }

    [Fact]
    public async Task A_client_that_disconnects_stops_the_generation()
    {
        var api = host.Services.GetRequiredService<CompletionsApi>();
        var before = api.GeneratedTokens;
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/completions")
        {
            Content = Json(new { prompt = Prompt, stream = true, parameters = new { max_new_tokens = CompletionsHostFixture.MaxNewTokens, min_new_tokens = CompletionsHostFixture.MaxNewTokens } }),
        };
        using var client = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = host.Http.BaseAddress };
        using (var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await using var body = await response.Content.ReadAsStreamAsync();
            var seen = 0;
            await foreach (var item in SseParser.Create(body).EnumerateAsync())
                if (++seen == 5) break;
            Assert.Equal(1, api.Active);
        } // disposing the response aborts the connection

        // (A plain HttpClient would first drain the response for up to 2 s to reuse the connection: close it instead.)
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        while (api.Active > 0 && stopwatch.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(10);
        Assert.Equal(0, api.Active);
        var ran = api.GeneratedTokens - before;
        Assert.True(ran < CompletionsHostFixture.MaxNewTokens / 2, $"the generation ran {ran} steps after the client left");
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(2), $"the generation stopped {stopwatch.Elapsed.TotalMilliseconds:F0} ms after the disconnect");
        // And nothing generates any more.
        await Task.Delay(200);
        Assert.Equal(ran, api.GeneratedTokens - before);
    }

    [Fact]
    public async Task A_completion_and_a_job_result_have_the_same_fields_and_the_same_greedy_text()
    {
        var spec = new { prompt = Prompt, parameters = new { max_new_tokens = 8 } };
        using var completion = await host.Http.PostAsync("api/completions", Json(spec));
        Assert.Equal(HttpStatusCode.OK, completion.StatusCode);
        using var final = JsonDocument.Parse(await completion.Content.ReadAsStringAsync());
        using var submitted = await host.Http.PostAsync("api/jobs", Json(spec));
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        var id = JsonDocument.Parse(await submitted.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;
        var job = await JobWaiter.WaitAsync(host.Http, id, TimeSpan.FromSeconds(60));
        var result = Assert.Single(job.GetProperty("results").EnumerateArray());

        // queue_wait_ms is the time a job's prompt waited for a shared decode batch: a completion has no such wait.
        Assert.Equal(Names(result).Where(n => n != "queue_wait_ms"), Names(final.RootElement));
        Assert.Equal(WithoutTimings(result, "queue_wait_ms"), WithoutTimings(final.RootElement));
        Assert.Equal(final.RootElement.GetProperty("generated_text").GetString(), final.RootElement.GetProperty("completion").GetString());
    }

    private static IEnumerable<string> Names(JsonElement o) => o.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToArray();

    [Theory]
    [InlineData("""{"prompts": ["a", "b", "c", "d", "e"]}""", "prompts")]
    [InlineData("""{"prompt": "a", "parameters": {"max_new_tokens": 20001}}""", "parameters.max_new_tokens")]
    [InlineData("""{"prompt": "a", "stream": "yes"}""", "stream")]
    [InlineData("""{"inputs": "a", "prompt": "b"}""", "inputs")]
    [InlineData("""{"prompt": ""}""", "prompt")]
    public async Task Limits_and_bad_fields_answer_400_problem_json_naming_the_field(string body, string field)
    {
        using var response = await host.Http.PostAsync("api/completions", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.True(document.RootElement.GetProperty("errors").TryGetProperty(field, out _), document.RootElement.ToString());
        Assert.Contains("/api/jobs", document.RootElement.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task A_body_over_the_limit_answers_413_problem_json()
    {
        using var response = await host.Http.PostAsync("api/completions", Json(new { prompt = new string('a', 5000) }));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("/api/jobs", await response.Content.ReadAsStringAsync());
    }

    internal static StringContent Json(object spec) => new(JsonSerializer.Serialize(spec), Encoding.UTF8, "application/json");

    private static string WithoutTimings(JsonElement final, params string[] more)
    {
        string[] timings = ["tokenize_ms", "encode_ms", "first_token_ms", "total_ms", "tokens_per_second", .. more];
        return JsonSerializer.Serialize(final.EnumerateObject().Where(p => !timings.Contains(p.Name)).OrderBy(p => p.Name, StringComparer.Ordinal)
            .ToDictionary(p => p.Name, p => p.Value));
    }

    private Task<SseEvents> StreamAsync(object spec, bool acceptEventStream = false) => StreamAsync(host.Http, spec, acceptEventStream);

    internal static async Task<SseEvents> StreamAsync(HttpClient http, object spec, bool acceptEventStream = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/completions") { Content = Json(spec) };
        if (acceptEventStream) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var raw = await response.Content.ReadAsByteArrayAsync();
        var items = new List<string>();
        await foreach (var item in SseParser.Create(new MemoryStream(raw)).EnumerateAsync())
            items.Add(item.Data);
        return new SseEvents(items, raw);
    }

    internal sealed record Token(int Id, string Text);

    internal sealed class SseEvents(List<string> data, byte[] raw)
    {
        private readonly List<JsonElement?> _parsed = data.Select(d => d == "[DONE]" ? (JsonElement?)null : JsonDocument.Parse(d).RootElement.Clone()).ToList();

        public bool EndsWithDone => data.Count > 0 && data[^1] == "[DONE]" && data.Count(d => d == "[DONE]") == 1;

        public bool RawIsValidUtf8
        {
            get
            {
                try { _ = new UTF8Encoding(false, true).GetString(raw); return true; }
                catch (DecoderFallbackException) { return false; }
            }
        }

        public List<Token> Tokens(int index) => _parsed
            .Where(e => e is { } x && x.TryGetProperty("token", out _) && x.GetProperty("index").GetInt32() == index)
            .Select(e => new Token(e!.Value.GetProperty("token").GetProperty("id").GetInt32(), e.Value.GetProperty("token").GetProperty("text").GetString()!))
            .ToList();

        public IEnumerable<JsonElement> FinalObjects => _parsed.Where(e => e is { } x && x.TryGetProperty("generated_text", out _)).Select(e => e!.Value);

        public JsonElement Final(int index) => Assert.Single(FinalObjects, f => f.GetProperty("index").GetInt32() == index);

        public int LastTokenIndexBeforeFinal(int index) => _parsed.FindLastIndex(e => e is { } x && x.TryGetProperty("token", out _) && x.GetProperty("index").GetInt32() == index);

        public int FirstTokenIndex(int index) => _parsed.FindIndex(e => e is { } x && x.TryGetProperty("token", out _) && x.GetProperty("index").GetInt32() == index);
    }
}
