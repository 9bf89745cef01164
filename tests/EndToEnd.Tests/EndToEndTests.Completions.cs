using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Text.Json;
using Serverless.EndToEnd.Tests.Infrastructure;

namespace Serverless.EndToEnd.Tests;

/// <summary><c>POST /api/completions</c> on every host: the event stream read as it arrives by .NET's SSE parser.</summary>
public abstract partial class EndToEndTests<THost>
{
    [SkippableFact]
    public async Task A_streamed_completion_sends_its_tokens_as_they_come_then_the_final_object_and_done()
    {
        SkipIfUnavailable();
        // As many prompts as the host allows: the tiny model makes thousands of tokens a second, and a longer stream
        // keeps the loopback hops (the real host proxies to the worker) from blurring streamed and buffered.
        var prompts = host.MaxCompletionPrompts;
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/completions")
        {
            Content = HostFixture.Json(new { inputs = Enumerable.Repeat(Prompt, prompts).ToArray(), stream = true, parameters = new { max_new_tokens = 256, min_new_tokens = 256 } }),
        };
        using var response = await host.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        // (Read the body only on failure: reading it for the message would wait for the whole stream.)
        if (response.StatusCode != HttpStatusCode.OK) Assert.Fail($"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);

        var clock = Stopwatch.StartNew();
        var arrivals = new List<(TimeSpan At, string Data)>();
        await using (var body = await response.Content.ReadAsStreamAsync())
        {
            await foreach (var item in SseParser.Create(body).EnumerateAsync())
                arrivals.Add((clock.Elapsed, item.Data));
        }

        Assert.Equal("[DONE]", arrivals[^1].Data);
        var events = arrivals.SkipLast(1).Select(a => JsonDocument.Parse(a.Data).RootElement.Clone()).ToList();
        var tokens = events.Where(e => e.TryGetProperty("token", out _)).ToList();
        var finals = events.Where(e => e.TryGetProperty("generated_text", out _)).ToList();
        Assert.Equal(Enumerable.Range(0, prompts), finals.Select(f => f.GetProperty("index").GetInt32()));
        Assert.Equal(prompts * 256, tokens.Count);
        foreach (var final in finals)
        {
            var index = final.GetProperty("index").GetInt32();
            Assert.Equal(final.GetProperty("generated_text").GetString(),
                string.Concat(tokens.Where(t => t.GetProperty("index").GetInt32() == index).Select(t => t.GetProperty("token").GetProperty("text").GetString())));
            Assert.Equal("length", final.GetProperty("finish_reason").GetString());
        }
        // Streamed, not buffered: prompts 1 and on were generated after the first token was sent, so (unless this client fell
        // a whole generation behind) their generation time separates the first event from the last.
        var later = finals.Skip(1).Sum(f => f.GetProperty("total_ms").GetDouble());
        var spread = arrivals[^1].At - arrivals[0].At;
        Assert.True(spread.TotalMilliseconds > later / 4,
            $"all {arrivals.Count} events arrived within {spread.TotalMilliseconds:F1} ms, though prompts 1 and on took {later:F0} ms to generate: the response was buffered");
    }

    [SkippableFact]
    public async Task A_completion_without_stream_answers_json_equal_to_the_streamed_final_object()
    {
        SkipIfUnavailable();
        var spec = new { prompt = Prompt, parameters = new { max_new_tokens = 10 } };
        using var json = await host.Http.PostAsync("api/completions", HostFixture.Json(spec));
        var text = await json.Content.ReadAsStringAsync();
        Assert.True(json.StatusCode == HttpStatusCode.OK, $"{(int)json.StatusCode}: {text}");
        Assert.Equal("application/json", json.Content.Headers.ContentType?.MediaType);

        using var request = new HttpRequestMessage(HttpMethod.Post, "api/completions") { Content = HostFixture.Json(spec) };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var streamed = await host.Http.SendAsync(request);
        var events = new List<string>();
        await foreach (var item in SseParser.Create(await streamed.Content.ReadAsStreamAsync()).EnumerateAsync()) events.Add(item.Data);
        var final = events.Where(e => e != "[DONE]").Select(e => JsonDocument.Parse(e).RootElement.Clone()).Single(e => e.TryGetProperty("generated_text", out _));

        using var document = JsonDocument.Parse(text);
        Assert.Equal(WithoutTimings(final), WithoutTimings(document.RootElement));
    }

    [SkippableFact]
    public async Task A_completion_over_the_limits_answers_400_problem_json_pointing_to_jobs()
    {
        SkipIfUnavailable();
        using var response = await host.Http.PostAsync("api/completions",
            HostFixture.Json(new { prompts = Enumerable.Repeat(Prompt, 65).ToArray(), parameters = new { max_new_tokens = 100_000 } }));

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("prompts", Errors(problem));
        Assert.Contains("parameters.max_new_tokens", Errors(problem));
        Assert.Contains("/api/jobs", problem.GetProperty("detail").GetString());
    }

    private static string WithoutTimings(JsonElement final)
    {
        string[] timings = ["tokenize_ms", "encode_ms", "first_token_ms", "total_ms", "tokens_per_second"];
        return JsonSerializer.Serialize(final.EnumerateObject().Where(p => !timings.Contains(p.Name)).ToDictionary(p => p.Name, p => p.Value));
    }
}
