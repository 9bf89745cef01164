using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Jobs.Models;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary>
/// Every HTTP path answers within its time budget, 503 + Retry-After when storage does not answer: Azure's front end
/// cuts a response at 230 s, and the model store's clients (100 s per try, several tries) would outlast that.
/// Storage here is a blackhole: a listener that accepts connections and never answers.
/// </summary>
public sealed class HttpTimeBudgetTests : IDisposable
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(4);
    private readonly BlackholeStorage _storage = new();

    private JobsApi CreateApi()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage"] = _storage.ConnectionString,
            ["PromptJobsQueue"] = "blackholed",
        }).Build();
        var services = new ServiceCollection();
        services.AddSingleton(new PromptJobsOptions { QueueName = "blackholed", HttpTimeBudget = Budget, HttpStorageCallTimeout = TimeSpan.FromSeconds(1), SubmitTokenizerWait = TimeSpan.FromSeconds(0.1) });
        services.AddSingleton<ITokenizerSource, NeverLoads>();
        return services.AddPromptJobs(configuration).BuildServiceProvider().GetRequiredService<JobsApi>();
    }

    [Fact]
    public async Task Submit_answers_503_with_Retry_After_within_its_budget()
    {
        var api = CreateApi();
        var watch = Stopwatch.StartNew();

        // Before the budget the submit waited out the model store's tries (minutes): fail fast instead of hanging.
        var result = await api.SubmitAsync(JobsTestHost.JsonRequest("""{"prompt": "hello"}"""), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        var reply = await JobsTestHost.ExecuteAsync(result);

        Assert.Equal(503, reply.Status);
        Assert.True(int.Parse(reply.Headers.RetryAfter.ToString()) > 0);
        Assert.StartsWith("application/problem+json", reply.ContentType);
        Assert.InRange(watch.Elapsed, TimeSpan.Zero, Budget + TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task Status_answers_503_with_Retry_After_within_its_budget()
    {
        var api = CreateApi();
        var watch = Stopwatch.StartNew();

        var result = await api.GetAsync(new DefaultHttpContext().Request, "some-job", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        var reply = await JobsTestHost.ExecuteAsync(result);

        Assert.Equal(503, reply.Status);
        Assert.True(int.Parse(reply.Headers.RetryAfter.ToString()) > 0);
        Assert.InRange(watch.Elapsed, TimeSpan.Zero, Budget + TimeSpan.FromSeconds(3));
    }

    public void Dispose() => _storage.Dispose();

    /// <summary>A tokenizer that never finishes loading: the submit's token count must not be what answers.</summary>
    private sealed class NeverLoads : ITokenizerSource
    {
        public async Task<SubmitModel> AcquireAsync(CancellationToken cancellationToken)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            throw new UnreachableException();
        }
    }
}
