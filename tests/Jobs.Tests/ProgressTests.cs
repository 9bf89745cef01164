using System.Text.Json;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary>A running job's record shows prompts done of total and tokens so far, written per batch and throttled.</summary>
/// <remarks>Run alone: the shared-batch case reads progress while the job's prompts finish, and failed twice in 10 runs
/// (no progress seen) only while other test classes decoded on the same two cores.</remarks>
[Collection(TimingSensitiveCollection.Name)]
public sealed class ProgressTests
{
    // Long enough that the job's prompts finish well apart, on a loaded machine too.
    private const int Tokens = 512;

    [Theory]
    // Per-message decoding: one prompt per engine call and no throttle, so every call but the last writes progress.
    [InlineData(false, 4)]
    // Shared decode batches of one row: the job's prompts finish one after another; progress is written on a timer.
    [InlineData(true, 1)]
    public async Task A_running_job_shows_prompts_done_and_tokens_and_the_finished_one_the_totals(bool dynamicBatching, int beams)
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true, new Dictionary<string, string?>
        {
            ["Jobs:DynamicBatching"] = dynamicBatching ? "true" : "false",
            ["Jobs:BatchSize"] = "1",
            ["Jobs:BatchWindowMs"] = "0",
            ["Inference:MaxBatchRows"] = "1",
            ["Jobs:ProgressIntervalMilliseconds"] = "0",
        });
        var prompts = Enumerable.Range(0, 6).Select(i => $"prompt number {i}").ToArray();
        var id = (await host.SubmitAsync(JsonSerializer.Serialize(new { prompts, parameters = new { min_new_tokens = Tokens, max_new_tokens = Tokens, num_beams = beams } })))
            .Body.GetProperty("id").GetString()!;
        var message = await host.ReceiveAsync();
        var work = Task.Run(() => host.Worker.ProcessAsync(message.MessageText, message.MessageId, message.DequeueCount, CancellationToken.None));

        var seen = new List<JobProgress>();
        while (!work.IsCompleted)
        {
            if ((await host.RecordAsync(id)) is { Status: JobStatus.Running, Progress: { } p }) seen.Add(p);
            await Task.Delay(20);
        }
        await work;

        Assert.True(seen.Count > 0, JsonSerializer.Serialize(await host.RecordAsync(id)));
        Assert.All(seen, p =>
        {
            Assert.Equal(6, p.PromptsTotal);
            Assert.InRange(p.PromptsDone, 1, 5);
            Assert.Equal(p.PromptsDone * Tokens, p.TokensGenerated);
        });
        var done = await host.RecordAsync(id);
        Assert.Equal(new JobProgress(6, 6, 6 * Tokens), done.Progress);
        Assert.Equal(6 * Tokens, (await host.GetAsync(id)).Body.GetProperty("progress").GetProperty("tokens_generated").GetInt32());
    }
}
