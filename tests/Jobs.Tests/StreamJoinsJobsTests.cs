using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Inference.Telemetry;
using Serverless.Jobs.Completions;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary>One decode loop per instance: a completion that arrives while a job runs becomes a row of the job's batch.</summary>
[Collection(TimingSensitiveCollection.Name)]
public sealed class StreamJoinsJobsTests
{
    [Fact]
    public async Task On_a_joinable_model_a_completion_that_arrives_while_a_job_runs_joins_its_batch()
    {
        var settings = new Dictionary<string, string?> { ["Jobs:BatchWindowMs"] = "0" };
        await using var host = await JobsTestHost.CreateAsync(withModel: true, settings, modelDirectory: RepoPaths.JoinableTinyModel);
        var warm = await host.DropAndReceiveAsync("warm up"); // loads the model
        await host.Worker.ProcessAsync(warm.MessageText, warm.MessageId, 1, CancellationToken.None);
        var rows = new List<int>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument, InferenceTelemetry.BatchRows)) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<int>((_, value, _, _) =>
        {
            lock (rows) rows.Add(value);
        });
        listener.Start();

        // Two rows that run long enough for the completion to arrive while they run.
        var id = await host.SubmitAcceptedAsync("""{"prompts": ["the red fox", "jumps over"], "parameters": {"min_new_tokens": 512, "max_new_tokens": 512}}""");
        var message = await host.ReceiveAsync();
        var work = Task.Run(() => host.Worker.ProcessAsync(message.MessageText, message.MessageId, message.DequeueCount, CancellationToken.None));
        while ((await host.RecordAsync(id)).Status != JobStatus.Running)
            await Task.Delay(20);
        await Task.Delay(20);

        var completions = host.Services.GetRequiredService<CompletionsApi>();
        var reply = await JobsTestHost.ExecuteAsync(await completions.CompleteAsync(
            JobsTestHost.JsonRequest("""{"prompt": "hello", "parameters": {"max_new_tokens": 5, "min_new_tokens": 5}}"""), CancellationToken.None));

        Assert.False(work.IsCompleted, "the job ended before the completion did: the test needs a longer job");
        Assert.Equal(200, reply.Status);
        Assert.Equal(5, reply.Body.GetProperty("output_tokens").GetInt32());
        await work;
        Assert.Equal("succeeded", (await host.GetAsync(id)).Body.GetProperty("status").GetString());
        listener.RecordObservableInstruments();
        lock (rows)
            Assert.Contains(3, rows); // the job's 2 rows and the completion's, in one batch
    }
}
