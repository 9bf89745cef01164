using System.Text.Json;
using Serverless.Functions.Tests.Infrastructure;

namespace Serverless.Functions.Tests;

/// <summary>A host whose model prefix holds nothing, with a small maxDequeueCount and short visibilityTimeout (set the
/// way one would on Azure: <c>AzureFunctionsJobHost__extensions__queues__*</c> app settings over host.json).</summary>
public sealed class ModelMissingHostFixture : LocalHostFixture
{
    public const int MaxDequeueCount = 2;

    protected override string HostModelPrefix => "not-uploaded/";

    protected override IEnumerable<string> Settings =>
    [
        $"AzureFunctionsJobHost:extensions:queues:maxDequeueCount={MaxDequeueCount}",
        "AzureFunctionsJobHost:extensions:queues:visibilityTimeout=00:00:01",
        "AzureFunctionsJobHost:extensions:queues:maxPollingInterval=00:00:01",
        // Submits would otherwise wait for the tokenizer of a model that is not there.
        "Jobs:SubmitTokenizerWaitSeconds=1",
    ];
}

public sealed class RetryAndPoisonTests(ModelMissingHostFixture host) : IClassFixture<ModelMissingHostFixture>
{
    [Fact]
    public async Task A_missing_model_fails_the_job_with_its_reason_after_bounded_attempts()
    {
        var receipt = await host.JobsQueue.SendMessageAsync("Where is Ganymede located in the solar system?");

        var job = await host.WaitAsync(receipt.Value.MessageId, TimeSpan.FromSeconds(60));

        Assert.Equal("failed", job.Status());
        Assert.Equal(ModelMissingHostFixture.MaxDequeueCount, job.GetProperty("attempts").GetInt32());
        var error = job.GetProperty("error");
        Assert.Equal("model_unavailable", error.GetProperty("code").GetString());
        Assert.Contains("not-uploaded", error.GetProperty("message").GetString());
        // Closed by the poison path: after the last attempt the host moved the message to the poison queue, whose
        // function recorded the last attempt's error, and the poison message was consumed.
        Assert.Contains("Gave up after 2 attempt(s)", error.GetProperty("message").GetString());
        await PipelineTests.WaitUntilAsync(async () => (await host.PoisonQueue.GetPropertiesAsync()).Value.ApproximateMessagesCount == 0, TimeSpan.FromSeconds(20));
        Assert.False((await host.Completions.GetBlobClient($"{receipt.Value.MessageId}.json").ExistsAsync()).Value);
    }

    [Fact]
    public async Task A_job_submitted_over_http_while_the_model_is_missing_fails_after_bounded_attempts()
    {
        var id = await host.SubmitAsync(new { prompt = "Where is Ganymede?" });

        var job = await host.WaitAsync(id, TimeSpan.FromSeconds(60));

        Assert.Equal("failed", job.Status());
        Assert.Equal("model_unavailable", job.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task A_message_in_the_poison_queue_closes_its_job_as_failed()
    {
        // As if the host had moved it there: a message that never got as far as recording an error.
        var id = "poisoned-" + Guid.NewGuid().ToString("N");
        await host.PoisonQueue.SendMessageAsync(JsonSerializer.Serialize(new { id, prompt = "Where is Ganymede?" }));

        var job = await host.WaitAsync(id, TimeSpan.FromSeconds(30));

        Assert.Equal("failed", job.Status());
        Assert.Equal("retries_exhausted", job.GetProperty("error").GetProperty("code").GetString());
        // The poison message is consumed, not retried forever.
        await PipelineTests.WaitUntilAsync(async () => (await host.PoisonQueue.GetPropertiesAsync()).Value.ApproximateMessagesCount == 0, TimeSpan.FromSeconds(20));
    }
}
