using System.Net;
using System.Text.Json;
using Azure.Storage.Blobs.Models;
using Serverless.Functions.Tests.Infrastructure;

namespace Serverless.Functions.Tests;

/// <summary>The job pipeline end to end through the local host (the Functions classes under the WebJobs SDK and
/// Kestrel) over real storage, on the tiny demo model (random weights: the text is meaningless, the mechanics are not).</summary>
public sealed class PipelineTests(LocalHostFixture host) : IClassFixture<LocalHostFixture>
{
    private static readonly object FourTokens = new { max_new_tokens = 4, min_new_tokens = 4 };

    [Fact]
    public async Task Http_submit_runs_to_a_completion_with_token_counts_and_timings()
    {
        var id = await host.SubmitAsync(new { prompt = "Where is Ganymede located in the solar system?", parameters = FourTokens });

        var job = await host.WaitAsync(id);

        Assert.Equal("succeeded", job.Status());
        var result = Assert.Single(job.GetProperty("results").EnumerateArray());
        Assert.Equal(4, result.GetProperty("output_tokens").GetInt32());
        Assert.True(result.GetProperty("input_tokens").GetInt32() > 5);
        Assert.True(result.GetProperty("total_ms").GetDouble() > 0);
        Assert.Equal(JsonValueKind.String, result.GetProperty("completion").ValueKind);
        Assert.True((await host.Completions.GetBlobClient($"{id}.json").ExistsAsync()).Value);
    }

    [Fact]
    public async Task A_plain_text_message_dropped_into_the_queue_completes_under_its_message_id()
    {
        var receipt = await host.JobsQueue.SendMessageAsync("Translate to German: the moon is bright.");

        var job = await host.WaitAsync(receipt.Value.MessageId);

        Assert.Equal("succeeded", job.Status());
        Assert.Equal(receipt.Value.MessageId, job.GetProperty("id").GetString());
        Assert.Single(job.GetProperty("results").EnumerateArray());
    }

    [Fact]
    public async Task A_json_spec_dropped_into_the_queue_uses_its_parameters()
    {
        var receipt = await host.JobsQueue.SendMessageAsync("""{"prompt": "Name a moon of Jupiter.", "parameters": {"max_new_tokens": 3, "min_new_tokens": 3}}""");

        var job = await host.WaitAsync(receipt.Value.MessageId);

        Assert.Equal("succeeded", job.Status());
        Assert.Equal(3, Assert.Single(job.GetProperty("results").EnumerateArray()).GetProperty("output_tokens").GetInt32());
    }

    [Fact]
    public async Task A_batch_job_returns_one_result_per_prompt_in_order()
    {
        string[] prompts = ["Where is Ganymede?", "What is Io?", "Summarize: Europa has an ocean.", "Is Callisto large?", "Hello"];
        var id = await host.SubmitAsync(new { prompts, parameters = new { max_new_tokens = 2 } });

        var job = await host.WaitAsync(id);

        Assert.Equal("succeeded", job.Status());
        var results = job.GetProperty("results").EnumerateArray().ToArray();
        Assert.Equal([0, 1, 2, 3, 4], results.Select(r => r.GetProperty("index").GetInt32()));
        Assert.Equal(prompts.Length, job.GetProperty("prompt_count").GetInt32());
    }

    [Fact]
    public async Task A_bad_queue_message_fails_the_job_with_its_reason_without_retries()
    {
        var receipt = await host.JobsQueue.SendMessageAsync("""{"prompt": "hi", "parameters": {"max_tokens": 5}}""");

        var job = await host.WaitAsync(receipt.Value.MessageId);

        Assert.Equal("failed", job.Status());
        var error = job.GetProperty("error");
        Assert.Equal("invalid_parameters", error.GetProperty("code").GetString());
        Assert.Contains("max_tokens", error.GetProperty("message").GetString());
        // A permanent failure is not retried into the poison queue.
        Assert.False((await host.PoisonQueue.PeekMessagesAsync()).Value.Any());
    }

    [Fact]
    public async Task A_duplicate_delivery_writes_one_output()
    {
        var id = "dup-" + Guid.NewGuid().ToString("N");
        var message = JsonSerializer.Serialize(new { id, prompt = "Where is Ganymede?", parameters = new { max_new_tokens = 3 } });
        await host.JobsQueue.SendMessageAsync(message);
        await host.JobsQueue.SendMessageAsync(message);

        var job = await host.WaitAsync(id);
        Assert.Equal("succeeded", job.Status());
        var firstOutput = (await host.Completions.GetBlobClient($"{id}.json").GetPropertiesAsync()).Value;

        // Both deliveries consumed (processed and deleted; in-flight messages still count here).
        await WaitUntilAsync(async () => (await host.JobsQueue.GetPropertiesAsync()).Value.ApproximateMessagesCount == 0, TimeSpan.FromSeconds(30));

        var outputs = new List<BlobItem>();
        await foreach (var blob in host.Completions.GetBlobsAsync(new GetBlobsOptions { Prefix = id })) outputs.Add(blob);
        Assert.Single(outputs);
        Assert.Equal(firstOutput.ETag, (await host.Completions.GetBlobClient($"{id}.json").GetPropertiesAsync()).Value.ETag);
        Assert.Equal("succeeded", (await host.WaitAsync(id)).Status());
    }

    [Fact]
    public async Task Get_of_an_unknown_job_is_404()
    {
        using var response = await host.Http.GetAsync("api/jobs/no-such-job-" + Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Function_keys_are_not_enforced_locally_and_invalid_input_is_a_400()
    {
        using var response = await host.Http.PostAsync("api/jobs?code=anything", new StringContent("""{"prompt": ""}"""));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    internal static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Condition not met within {timeout}.");
            await Task.Delay(200);
        }
    }
}
