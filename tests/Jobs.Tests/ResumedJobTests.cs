using Microsoft.Extensions.Logging.Abstractions;
using Serverless.Jobs.Checkpoints;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary>
/// Resumable jobs (issue 25): the prompts an attempt finishes are kept in the job's checkpoint
/// (<c>jobs/_checkpoints/{id}.json</c>), a later attempt decodes only the others and answers every prompt in order, and
/// the record logs what each attempt decoded.
/// </summary>
public sealed class ResumedJobTests
{
    private const string FourPrompts = """{"prompts": ["one", "two", "three", "four"], "parameters": {"max_new_tokens": 3}}""";

    private static PromptResult Kept(int index) => new(index, $"kept by attempt 1: {index}", "length", 2, 3, 512, 0, 0, 0, 0, 1, 3);

    private static CheckpointStore Checkpoints(JobsTestHost host) => new(host.Jobs, JobCheckpoints.Prefix);

    [Fact]
    public async Task A_retried_job_decodes_only_the_prompts_its_checkpoint_lacks_and_answers_all_in_order()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true);
        var id = await host.SubmitAcceptedAsync(FourPrompts);
        var message = await host.ReceiveAsync();
        // The first attempt finished prompts 0 and 2 and kept them, then its instance died.
        await host.Store.UpdateAsync(id, r => r!.Started(DateTimeOffset.UtcNow, 4), CancellationToken.None);
        await Checkpoints(host).WriteAsync(id, new Dictionary<int, PromptResult> { [0] = Kept(0), [2] = Kept(2) }, CancellationToken.None);

        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, 2, CancellationToken.None);

        var reply = await host.GetAsync(id);
        Assert.Equal("succeeded", reply.Body.GetProperty("status").GetString());
        var results = reply.Body.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(new[] { 0, 1, 2, 3 }, results.Select(r => r.GetProperty("index").GetInt32()));
        Assert.Equal(Kept(0).GeneratedText, results[0].GetProperty("completion").GetString());
        Assert.Equal(Kept(2).GeneratedText, results[2].GetProperty("completion").GetString());
        Assert.DoesNotContain("kept", results[1].GetProperty("completion").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("kept", results[3].GetProperty("completion").GetString(), StringComparison.Ordinal);

        // Tokens generated per attempt: the second decoded the two prompts the checkpoint lacked, and only those.
        var record = await host.RecordAsync(id);
        var attempt = Assert.Single(record.AttemptLog!);
        Assert.Equal((2, 2, 2), (attempt.Attempt, attempt.PromptsResumed, attempt.PromptsDecoded));
        Assert.Equal(results[1].GetProperty("output_tokens").GetInt32() + results[3].GetProperty("output_tokens").GetInt32(), attempt.TokensGenerated);
        // Answered: the checkpoint is gone.
        Assert.False((await host.Jobs.GetBlobClient($"{JobCheckpoints.Prefix}{id}.json").ExistsAsync()).Value);
    }

    [Fact]
    public async Task A_first_attempt_reads_no_checkpoint_and_a_quick_one_writes_none()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true);
        var id = await host.SubmitAcceptedAsync(FourPrompts);
        // A checkpoint no first attempt can have made: a first attempt must not read it.
        await Checkpoints(host).WriteAsync(id, new Dictionary<int, PromptResult> { [1] = Kept(1) }, CancellationToken.None);
        var planted = host.Jobs.GetBlobClient($"{JobCheckpoints.Prefix}{id}.json");
        var etag = (await planted.GetPropertiesAsync()).Value.ETag;

        await host.ProcessNextAsync();

        var reply = await host.GetAsync(id);
        Assert.Equal("succeeded", reply.Body.GetProperty("status").GetString());
        Assert.DoesNotContain("kept", reply.Body.GetProperty("results")[1].GetProperty("completion").GetString(), StringComparison.Ordinal);
        var attempt = Assert.Single((await host.RecordAsync(id)).AttemptLog!);
        Assert.Equal((1, 0, 4), (attempt.Attempt, attempt.PromptsResumed, attempt.PromptsDecoded));
        // Finished well within the interval (10 s): no checkpoint write, so the blob is as planted, and no delete.
        Assert.Equal(etag, (await planted.GetPropertiesAsync()).Value.ETag);
    }

    [Fact]
    public async Task An_attempt_that_stops_keeps_its_finished_prompts_and_the_next_one_is_left_only_the_others()
    {
        await using var host = await JobsTestHost.CreateAsync();
        await host.Jobs.CreateIfNotExistsAsync();
        var checkpoints = new JobCheckpoints(Checkpoints(host), TimeSpan.FromHours(1), TimeProvider.System, NullLogger<JobCheckpoints>.Instance);
        var spec = new JobSpec(null, ["a", "b", "c", "d"], null, IsList: true);
        var id = "resumed-" + Guid.NewGuid().ToString("N");

        // The interval is an hour: nothing is saved while it runs, only when the attempt stops (disposed unanswered).
        await using (var first = await checkpoints.OpenAsync(id, spec, retry: false, CancellationToken.None))
        {
            Assert.Equal(4, first.Pending.Prompts.Count);
            first.Finished(3, Kept(0));
            first.Finished(1, Kept(0));
            Assert.Equal(0, first.Writes);
        }
        await using var second = await checkpoints.OpenAsync(id, spec, retry: true, CancellationToken.None);

        Assert.Equal(2, second.Resumed);
        Assert.Equal(new[] { "a", "c" }, second.Pending.Prompts);
        var merged = second.Merge([Kept(0) with { GeneratedText = "a!" }, Kept(1) with { GeneratedText = "c!" }]);
        Assert.Equal(new[] { 0, 1, 2, 3 }, merged.Select(r => r.Index));
        Assert.Equal(new[] { "a!", Kept(0).GeneratedText, "c!", Kept(0).GeneratedText }, merged.Select(r => r.GeneratedText));
    }

    [Fact]
    public async Task A_single_prompt_job_keeps_no_checkpoint()
    {
        await using var host = await JobsTestHost.CreateAsync();
        await host.Jobs.CreateIfNotExistsAsync();
        var checkpoints = new JobCheckpoints(Checkpoints(host), TimeSpan.FromHours(1), TimeProvider.System, NullLogger<JobCheckpoints>.Instance);
        var id = "single-" + Guid.NewGuid().ToString("N");

        await using (var attempt = await checkpoints.OpenAsync(id, new JobSpec(null, ["a"], null, IsList: false), retry: false, CancellationToken.None))
            attempt.Finished(0, Kept(0));

        Assert.False((await host.Jobs.GetBlobClient($"{JobCheckpoints.Prefix}{id}.json").ExistsAsync()).Value);
    }
}
