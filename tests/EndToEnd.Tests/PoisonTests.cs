using Serverless.EndToEnd.Tests.Infrastructure;

namespace Serverless.EndToEnd.Tests;

/// <summary>
/// The poison path, on a host whose model prefix holds nothing (model_unavailable is transient: retried), with
/// maxDequeueCount 2 and a 1 s visibilityTimeout set as app settings over host.json: the job ends failed with its
/// last error after exactly that many attempts.
/// </summary>
public abstract class PoisonTests<THost>(THost host) where THost : StartedHostFixture
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    [SkippableFact]
    public async Task A_dropped_prompt_ends_failed_with_its_last_error_after_maxDequeueCount()
    {
        Skip.If(host.SkipReason is not null, $"{host.Name} host: {host.SkipReason}");
        var receipt = await host.Queue.SendMessageAsync("Where is Ganymede located in the solar system?");

        var job = await host.WaitAsync(receipt.Value.MessageId, Timeout);

        Assert.True(job.GetProperty("status").GetString() == "failed", job.GetRawText());
        Assert.Equal(StartedHostFixture.ModelMissingMaxDequeueCount, job.GetProperty("attempts").GetInt32());
        var error = job.GetProperty("error");
        Assert.Equal("model_unavailable", error.GetProperty("code").GetString());
        Assert.Contains($"Gave up after {StartedHostFixture.ModelMissingMaxDequeueCount} attempt(s)", error.GetProperty("message").GetString());
        Assert.Contains("not-uploaded", error.GetProperty("message").GetString());
    }

    [SkippableFact]
    public async Task A_submitted_job_ends_failed_with_model_unavailable_after_maxDequeueCount()
    {
        Skip.If(host.SkipReason is not null, $"{host.Name} host: {host.SkipReason}");
        var id = await host.SubmitAsync(new { prompt = "Where is Ganymede?" });

        var job = await host.WaitAsync(id, Timeout);

        Assert.True(job.GetProperty("status").GetString() == "failed", job.GetRawText());
        Assert.Equal(StartedHostFixture.ModelMissingMaxDequeueCount, job.GetProperty("attempts").GetInt32());
        Assert.Equal("model_unavailable", job.GetProperty("error").GetProperty("code").GetString());
    }
}
