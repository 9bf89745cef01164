using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Serverless.Functions.Tests.Infrastructure;

namespace Serverless.Functions.Tests;

/// <summary>Cancel, list and idempotent submit through the local host over real HTTP, with the queue trigger running.</summary>
[Collection(TimedHttpCollection.Name)]
public sealed class JobControlHttpTests(LocalHostFixture host) : IClassFixture<LocalHostFixture>
{
    private async Task<JsonElement> GetAsync(string id)
    {
        using var response = await host.Http.GetAsync($"api/jobs/{id}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    [Fact]
    public async Task Delete_stops_a_running_job_within_a_second_and_its_message_is_completed_not_retried()
    {
        await host.WaitAsync(await host.SubmitAsync(new { prompt = "warm up", parameters = new { max_new_tokens = 1 } })); // model loaded
        var prompts = Enumerable.Range(0, 64).Select(i => $"prompt number {i}").ToArray();
        var id = await host.SubmitAsync(new { prompts, parameters = new { min_new_tokens = 512, max_new_tokens = 512, num_beams = 4 } });
        var deadline = Stopwatch.StartNew();
        while ((await GetAsync(id)).Status() != "running")
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(30), "The job did not start.");
            await Task.Delay(50);
        }
        await Task.Delay(300);

        using var cancel = await host.Http.DeleteAsync($"api/jobs/{id}");
        var sinceCancel = Stopwatch.StartNew();
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        // The message leaves the queue (approximate count includes invisible, i.e. in-flight, messages) when the function returns.
        while ((await host.JobsQueue.GetPropertiesAsync()).Value.ApproximateMessagesCount > 0)
        {
            Assert.True(sinceCancel.Elapsed < TimeSpan.FromSeconds(10), "The message was not completed.");
            await Task.Delay(25);
        }
        sinceCancel.Stop();

        Assert.True(sinceCancel.Elapsed < TimeSpan.FromSeconds(1), $"The worker took {sinceCancel.Elapsed.TotalMilliseconds:F0} ms to stop.");
        var job = await GetAsync(id);
        Assert.Equal("cancelled", job.Status());
        Assert.Equal(1, job.GetProperty("attempts").GetInt32());
        Assert.False(job.TryGetProperty("results", out _));
        Assert.False((await host.Completions.GetBlobClient($"{id}.json").ExistsAsync()).Value);
        Assert.Equal(0, (await host.PoisonQueue.GetPropertiesAsync()).Value.ApproximateMessagesCount);
    }

    [Fact]
    public async Task Cancel_of_a_finished_job_is_409_and_of_an_unknown_one_404_and_post_cancel_works_too()
    {
        var done = await host.SubmitAsync(new { prompt = "hi", parameters = new { max_new_tokens = 1 } });
        Assert.Equal("succeeded", (await host.WaitAsync(done)).Status());

        using var finished = await host.Http.PostAsync($"api/jobs/{done}/cancel", null);
        using var unknown = await host.Http.DeleteAsync("api/jobs/no-such-job");

        Assert.Equal(HttpStatusCode.Conflict, finished.StatusCode);
        Assert.Equal("application/problem+json", finished.Content.Headers.ContentType?.MediaType);
        Assert.Equal("succeeded", JsonDocument.Parse(await finished.Content.ReadAsStringAsync()).RootElement.GetProperty("job_status").GetString());
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task Twenty_concurrent_posts_with_one_idempotency_key_make_one_job()
    {
        var key = Guid.NewGuid().ToString();
        var body = JsonSerializer.Serialize(new { prompt = "hello", parameters = new { max_new_tokens = 1 } });
        var replies = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "api/jobs") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            request.Headers.Add("Idempotency-Key", key);
            using var response = await host.Http.SendAsync(request);
            return ((int)response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString());
        }));

        Assert.Single(replies, r => r.Item1 == 202);
        Assert.All(replies, r => Assert.Contains(r.Item1, new[] { 200, 202 }));
        var id = Assert.Single(replies.Select(r => r.Item2).Distinct())!;
        Assert.Equal("succeeded", (await host.WaitAsync(id)).Status());
        Assert.Equal(1, (await GetAsync(id)).GetProperty("attempts").GetInt32());
    }

    [Fact]
    public async Task List_pages_through_250_jobs_newest_first_with_a_continuation()
    {
        var ids = new string[250];
        // Sequential creation times, so "newest first" has one right answer.
        for (var i = 0; i < ids.Length; i++) ids[i] = await host.SubmitAsync(new { prompt = $"p{i}", parameters = new { max_new_tokens = 1 } });

        var seen = new List<string>();
        string? continuation = null;
        do
        {
            using var response = await host.Http.GetAsync("api/jobs?limit=100" + (continuation is null ? "" : "&continuation=" + Uri.EscapeDataString(continuation)));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var page = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
            foreach (var job in page.GetProperty("jobs").EnumerateArray())
            {
                var id = job.GetProperty("id").GetString()!;
                if (Array.IndexOf(ids, id) < 0) continue; // the fixture's other tests add their own jobs
                seen.Add(id);
                Assert.Equal(1, job.GetProperty("prompt_count").GetInt32());
            }
            continuation = page.TryGetProperty("continuation", out var c) ? c.GetString() : null;
        } while (continuation is not null);

        Assert.Equal(ids.Reverse(), seen);
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimedHttpCollection
{
    public const string Name = "Timed HTTP, alone";
}
