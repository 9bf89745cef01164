using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Jobs.Completions;
using Serverless.Jobs.OpenAi;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests.OpenAi;

/// <summary>The OpenAI-compatible routes on the tiny model: log-probabilities in OpenAI's two shapes, the additive
/// penalties as <c>/api/completions</c> applies them, and 429 with <c>Retry-After</c> once the instance is saturated.</summary>
[Collection(TimingSensitiveCollection.Name)]
public sealed class OpenAiApiTests
{
    private const string Key = "test-key";
    private const string Model = "tiny";
    private const string Prompt = "Where is Ganymede located in the solar system?";

    private static Dictionary<string, string?> Settings(params (string Key, string Value)[] more)
    {
        var settings = new Dictionary<string, string?> { ["OpenAi:ApiKey"] = Key };
        foreach (var (k, v) in more) settings[k] = v;
        return settings;
    }

    private static HttpRequest Request(string path, string body)
    {
        var request = JobsTestHost.JsonRequest(body);
        request.Path = path;
        request.Headers.Authorization = "Bearer " + Key;
        return request;
    }

    private static async Task<HttpReply> ChatAsync(JobsTestHost host, string body) =>
        await JobsTestHost.ExecuteAsync(await host.Services.GetRequiredService<OpenAiApi>().ChatAsync(Request("/api/v1/chat/completions", body), CancellationToken.None));

    private static async Task<HttpReply> CompleteAsync(JobsTestHost host, string body) =>
        await JobsTestHost.ExecuteAsync(await host.Services.GetRequiredService<OpenAiApi>().CompleteAsync(Request("/api/v1/completions", body), CancellationToken.None));

    [Fact]
    public async Task Chat_log_probabilities_list_each_token_with_its_most_likely_alternatives()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true, Settings());

        var reply = await ChatAsync(host, $$"""{"model":"{{Model}}","messages":[{"role":"user","content":"{{Prompt}}"}],"temperature":0,"max_tokens":6,"min_tokens":6,"logprobs":true,"top_logprobs":3}""");

        Assert.Equal(200, reply.Status);
        var choice = reply.Body.GetProperty("choices")[0];
        var content = choice.GetProperty("logprobs").GetProperty("content").EnumerateArray().ToList();
        Assert.Equal(6, content.Count); // min_tokens: no end-of-sequence among them
        foreach (var token in content)
        {
            var top = token.GetProperty("top_logprobs").EnumerateArray().Select(t => t.GetProperty("logprob").GetSingle()).ToList();
            Assert.Equal(3, top.Count);
            Assert.Equal(top.OrderDescending(), top);
            Assert.InRange(token.GetProperty("logprob").GetSingle(), float.MinValue, 0f);
            // Greedy: the chosen token is the most likely one.
            Assert.Equal(top[0], token.GetProperty("logprob").GetSingle());
            Assert.Equal(token.GetProperty("token").GetString(), token.GetProperty("top_logprobs")[0].GetProperty("token").GetString());
            Assert.Equal(System.Text.Encoding.UTF8.GetBytes(token.GetProperty("token").GetString()!),
                token.GetProperty("bytes").EnumerateArray().Select(b => (byte)b.GetInt32()));
        }
    }

    [Fact]
    public async Task Completion_log_probabilities_have_tokens_their_log_probabilities_alternatives_and_text_offsets()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true, Settings());

        var reply = await CompleteAsync(host, $$"""{"model":"{{Model}}","prompt":"{{Prompt}}","temperature":0,"max_tokens":5,"min_tokens":5,"logprobs":2}""");

        Assert.Equal(200, reply.Status);
        var choice = reply.Body.GetProperty("choices")[0];
        var logprobs = choice.GetProperty("logprobs");
        var text = choice.GetProperty("text").GetString()!;
        Assert.Equal(5, logprobs.GetProperty("tokens").GetArrayLength());
        Assert.Equal(5, logprobs.GetProperty("token_logprobs").GetArrayLength());
        var offsets = logprobs.GetProperty("text_offset").EnumerateArray().Select(o => o.GetInt32()).ToList();
        Assert.Equal(0, offsets[0]);
        Assert.Equal(offsets.Order(), offsets);
        Assert.All(offsets, o => Assert.InRange(o, 0, text.Length));
        var tops = logprobs.GetProperty("top_logprobs").EnumerateArray().ToList();
        Assert.Equal(5, tops.Count);
        for (var i = 0; i < 5; i++)
        {
            var alternatives = tops[i].EnumerateObject().ToList();
            Assert.InRange(alternatives.Count, 1, 2);
            Assert.Equal(logprobs.GetProperty("token_logprobs")[i].GetSingle(), alternatives.Max(a => a.Value.GetSingle()));
        }
    }

    [Fact]
    public async Task Without_logprobs_the_field_is_null()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true, Settings());

        var reply = await CompleteAsync(host, $$"""{"model":"{{Model}}","prompt":"{{Prompt}}","max_tokens":3}""");

        Assert.Equal(JsonValueKind.Null, reply.Body.GetProperty("choices")[0].GetProperty("logprobs").ValueKind);
    }

    [Fact]
    public async Task A_frequency_penalty_gives_the_text_api_completions_gives_for_the_same_penalty()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true, Settings());
        var completions = host.Services.GetRequiredService<CompletionsApi>();

        var penalised = await CompleteAsync(host, $$"""{"model":"{{Model}}","prompt":"{{Prompt}}","temperature":0,"max_tokens":30,"min_tokens":30,"frequency_penalty":2,"presence_penalty":0.5}""");
        var plain = await CompleteAsync(host, $$"""{"model":"{{Model}}","prompt":"{{Prompt}}","temperature":0,"max_tokens":30,"min_tokens":30}""");
        var engine = await JobsTestHost.ExecuteAsync(await completions.CompleteAsync(JobsTestHost.JsonRequest(
            $$$"""{"prompt":"{{{Prompt}}}","parameters":{"max_new_tokens":30,"min_new_tokens":30,"frequency_penalty":2,"presence_penalty":0.5}}"""), CancellationToken.None));

        var text = penalised.Body.GetProperty("choices")[0].GetProperty("text").GetString();
        Assert.Equal(engine.Body.GetProperty("generated_text").GetString(), text);
        Assert.NotEqual(plain.Body.GetProperty("choices")[0].GetProperty("text").GetString(), text);
    }

    [Fact]
    public async Task A_saturated_instance_answers_429_with_retry_after_on_both_completion_routes()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true, Settings(
            ("Completions:MaxConcurrent", "1"), ("Completions:MaxNewTokens", "100000"), ("Inference:MaxNewTokensCeiling", "100000")));
        var completions = host.Services.GetRequiredService<CompletionsApi>();
        using var stop = new CancellationTokenSource();
        var running = completions.CompleteAsync(JobsTestHost.JsonRequest("""{"prompt":"hello","parameters":{"max_new_tokens":90000,"min_new_tokens":90000}}"""), stop.Token);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (completions.Active < 1)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), "the long completion never started");
            await Task.Delay(10);
        }

        var chat = await ChatAsync(host, $$"""{"model":"{{Model}}","messages":[{"role":"user","content":"hi"}],"max_tokens":2}""");
        var own = await JobsTestHost.ExecuteAsync(await completions.CompleteAsync(JobsTestHost.JsonRequest("""{"prompt":"hi"}"""), CancellationToken.None));
        await stop.CancelAsync();
        await running;

        Assert.Equal(429, chat.Status);
        Assert.Equal("rate_limit_error", chat.Body.GetProperty("error").GetProperty("type").GetString());
        Assert.Contains("Completions__MaxConcurrent", chat.Body.GetProperty("error").GetProperty("message").GetString());
        Assert.True(int.Parse(chat.Headers.RetryAfter.ToString(), System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.Equal(429, own.Status);
        Assert.False(string.IsNullOrEmpty(own.Headers.RetryAfter.ToString()));
        // Once it has ended, the next request runs.
        Assert.Equal(200, (await ChatAsync(host, $$"""{"model":"{{Model}}","messages":[{"role":"user","content":"hi"}],"max_tokens":2}""")).Status);
    }
}
