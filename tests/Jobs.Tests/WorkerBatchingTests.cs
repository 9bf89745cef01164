using System.Text.Json;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary>The worker with dynamic batching on (the default) and off (<c>Jobs__DynamicBatching=false</c>).</summary>
public sealed class WorkerBatchingTests
{
    private const string FirstJob = """{"prompts": ["Translate to German: How old are you?", "a"], "parameters": {"max_new_tokens": 7}}""";
    private const string SecondJob = """{"prompt": "the red fox jumps over the lazy dog", "parameters": {"do_sample": true, "seed": 4, "max_new_tokens": 9}}""";

    private static async Task<JsonElement[]> RunConcurrentlyAsync(bool batching)
    {
        var settings = new Dictionary<string, string?> { ["Jobs:DynamicBatching"] = batching ? "true" : "false", ["Jobs:BatchWindowMs"] = "200" };
        await using var host = await JobsTestHost.CreateAsync(withModel: true, settings);
        var ids = new List<string>();
        foreach (var body in new[] { FirstJob, SecondJob })
            ids.Add(await host.SubmitAcceptedAsync(body));
        var messages = new[] { await host.ReceiveAsync(), await host.ReceiveAsync() };

        await Task.WhenAll(messages.Select(m => host.Worker.ProcessAsync(m.MessageText, m.MessageId, m.DequeueCount, CancellationToken.None)));

        var replies = new List<JsonElement>();
        foreach (var id in ids)
        {
            var body = (await host.GetAsync(id)).Body;
            Assert.Equal("succeeded", body.GetProperty("status").GetString());
            replies.Add(body.Clone());
        }
        return [.. replies];
    }

    private static string[] Completions(JsonElement[] jobs) =>
        jobs.SelectMany(j => j.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("completion").GetString()!)).ToArray();

    [Fact]
    public async Task Concurrent_jobs_batched_give_the_unbatched_completions_and_report_their_wait()
    {
        var batched = await RunConcurrentlyAsync(batching: true);
        var alone = await RunConcurrentlyAsync(batching: false);

        Assert.Equal(Completions(alone), Completions(batched));
        foreach (var result in batched.SelectMany(j => j.GetProperty("results").EnumerateArray()))
            Assert.True(result.GetProperty("queue_wait_ms").GetDouble() >= 0);
        foreach (var result in alone.SelectMany(j => j.GetProperty("results").EnumerateArray()))
            Assert.False(result.TryGetProperty("queue_wait_ms", out _));
    }
}
