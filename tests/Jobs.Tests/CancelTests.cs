using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary><c>DELETE /api/jobs/{id}</c>: the record says cancelled, a queued job never starts, a running one stops
/// between decode steps and keeps no output, and its message is completed rather than retried.</summary>
public sealed class CancelTests
{
    private static async Task<HttpReply> CancelAsync(JobsTestHost host, string id) =>
        await JobsTestHost.ExecuteAsync(await host.Api.CancelAsync(new DefaultHttpContext().Request, id, CancellationToken.None));

    [Fact]
    public async Task A_queued_job_cancelled_never_starts_and_its_message_is_completed()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true);
        var id = (await host.SubmitAsync("""{"prompt": "hello", "parameters": {"max_new_tokens": 4}}""")).Body.GetProperty("id").GetString()!;

        var cancel = await CancelAsync(host, id);

        Assert.Equal(200, cancel.Status);
        Assert.Equal("cancelled", cancel.Body.GetProperty("status").GetString());
        Assert.Equal("cancelled", cancel.Body.GetProperty("error").GetProperty("code").GetString());
        await host.ProcessNextAsync(); // returns normally: the trigger completes the message
        var record = await host.RecordAsync(id);
        Assert.Equal(JobStatus.Cancelled, record.Status);
        Assert.Equal(0, record.Attempts);
        Assert.Null(record.StartedAt);
        Assert.False(await host.Completions.GetBlobClient($"{id}.json").ExistsAsync());
    }

    [Fact]
    public async Task Cancelling_a_finished_job_is_a_409_with_its_status()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var message = await host.DropAndReceiveAsync("""{"prompt": "hi", "parameters": {"top_p": 7}}"""); // fails at once
        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, message.DequeueCount, CancellationToken.None);

        var cancel = await CancelAsync(host, message.MessageId);

        Assert.Equal(409, cancel.Status);
        Assert.StartsWith("application/problem+json", cancel.ContentType);
        Assert.Equal("failed", cancel.Body.GetProperty("job_status").GetString());
        Assert.Equal(JobStatus.Failed, (await host.RecordAsync(message.MessageId)).Status);
    }

    [Fact]
    public async Task Cancelling_twice_answers_200_both_times_and_keeps_the_first_time()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var message = await host.DropAndReceiveAsync("x"); // no model: the record is created queued by hand below
        var id = message.MessageId;
        Assert.True(await host.Store.CreateAsync(JobRecord.Created(id, DateTimeOffset.UtcNow, JobRecord.FromQueue, 1), CancellationToken.None));

        var first = await CancelAsync(host, id);
        var second = await CancelAsync(host, id);

        Assert.Equal(200, first.Status);
        Assert.Equal(200, second.Status);
        Assert.Equal(first.Body.GetProperty("completed_at").GetDateTimeOffset(), second.Body.GetProperty("completed_at").GetDateTimeOffset());
    }

    [Theory]
    [InlineData("no-such-job", 404)]
    [InlineData("bad.id", 400)]
    public async Task Unknown_or_malformed_ids(string id, int status)
    {
        await using var host = await JobsTestHost.CreateAsync();
        Assert.Equal(status, (await CancelAsync(host, id)).Status);
    }
}

/// <summary>The timed cancel: alone (no other test class runs beside it), since on a shared 2-core machine a parallel
/// test's load would measure the machine rather than the watcher.</summary>
[Collection(TimedCollection.Name)]
public sealed class RunningCancelTests
{
    private static async Task<HttpReply> CancelAsync(JobsTestHost host, string id) =>
        await JobsTestHost.ExecuteAsync(await host.Api.CancelAsync(new DefaultHttpContext().Request, id, CancellationToken.None));

    [Fact]
    public async Task A_running_job_stops_within_a_second_keeps_no_output_and_is_not_retried()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true);
        var warm = await host.DropAndReceiveAsync("warm up"); // loads the model, so the timed job is generating at once
        await host.Worker.ProcessAsync(warm.MessageText, warm.MessageId, 1, CancellationToken.None);
        // Long enough that it cannot finish before the cancel: 64 prompts x 512 tokens with 4 beams.
        var prompts = Enumerable.Range(0, 64).Select(i => $"prompt number {i}").ToArray();
        var submit = await host.SubmitAsync(JsonSerializer.Serialize(new { prompts, parameters = new { min_new_tokens = 512, max_new_tokens = 512, num_beams = 4 } }));
        var id = submit.Body.GetProperty("id").GetString()!;
        var message = await host.ReceiveAsync();
        var work = Task.Run(() => host.Worker.ProcessAsync(message.MessageText, message.MessageId, message.DequeueCount, CancellationToken.None));
        while ((await host.RecordAsync(id)).Status != JobStatus.Running)
        {
            Assert.False(work.IsCompleted, "The worker finished before the job was seen running.");
            await Task.Delay(20);
        }
        await Task.Delay(300); // inside generation

        var cancel = await CancelAsync(host, id);
        var stopwatch = Stopwatch.StartNew();
        await work;
        // No exception: the message is completed, not retried.
        stopwatch.Stop();

        Assert.Equal(200, cancel.Status);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(1), $"The worker took {stopwatch.Elapsed.TotalMilliseconds:F0} ms to stop after the cancel.");
        var record = await host.RecordAsync(id);
        Assert.Equal(JobStatus.Cancelled, record.Status);
        Assert.Equal(1, record.Attempts);
        Assert.False(await host.Completions.GetBlobClient($"{id}.json").ExistsAsync());
        Assert.False((await host.GetAsync(id)).Body.TryGetProperty("results", out _));
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimedCollection
{
    public const string Name = "Timed, alone";
}
