using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Serverless.Jobs.Models;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary>
/// No HTTP path answers a bare 500: storage that is slow on every try (each try cut by the client's own network timeout,
/// well inside the request's time budget) is a 503 + Retry-After problem, and anything else unexpected is a 500 problem
/// with a correlation id that an Error log (with the exception) carries too. The Functions host turns an exception thrown
/// out of a function into a 500 with an empty body, so JobsApi must not let one out.
/// </summary>
public sealed class UnexpectedFailureTests : IDisposable
{
    private static readonly TimeSpan PerTry = TimeSpan.FromMilliseconds(300);
    private readonly BlackholeStorage _storage = new();

    /// <summary>The API over storage that never answers, with a budget far longer than all of the client's tries together,
    /// as in production (30 s budget, 3 tries of 5 s): the tries' timeouts, not the budget, end the request.</summary>
    private JobsApi SlowStorageApi(CapturingLoggerProvider logs)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage"] = _storage.ConnectionString,
        }).Build();
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddProvider(logs));
        services.AddSingleton(new PromptJobsOptions { QueueName = "slow", HttpTimeBudget = TimeSpan.FromMinutes(2), HttpStorageCallTimeout = PerTry, SubmitTokenizerWait = TimeSpan.Zero });
        services.AddSingleton<ITokenizerSource, NoModel>();
        return services.AddPromptJobs(configuration).BuildServiceProvider().GetRequiredService<JobsApi>();
    }

    [Fact]
    public async Task Status_answers_503_when_every_storage_try_times_out()
    {
        var logs = new CapturingLoggerProvider();
        var api = SlowStorageApi(logs);
        var watch = Stopwatch.StartNew();

        var reply = await JobsTestHost.ExecuteAsync(await api.GetAsync(new DefaultHttpContext().Request, "some-job", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60)));

        Assert.Equal(503, reply.Status);
        Assert.StartsWith("application/problem+json", reply.ContentType);
        Assert.True(int.Parse(reply.Headers.RetryAfter.ToString()) > 0);
        // Answered by the tries giving up, not by the (2 min) budget.
        Assert.InRange(watch.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(30));
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Error && e.Category == typeof(JobsApi).FullName && e.Exception is not null);
    }

    [Fact]
    public async Task Submit_answers_503_when_every_storage_try_times_out()
    {
        var logs = new CapturingLoggerProvider();
        var api = SlowStorageApi(logs);

        var reply = await JobsTestHost.ExecuteAsync(await api.SubmitAsync(JobsTestHost.JsonRequest("""{"prompt": "hello"}"""), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60)));

        Assert.Equal(503, reply.Status);
        Assert.StartsWith("application/problem+json", reply.ContentType);
        Assert.True(int.Parse(reply.Headers.RetryAfter.ToString()) > 0);
    }

    [Fact]
    public async Task A_record_that_cannot_be_read_answers_500_problem_with_a_correlation_id_that_the_error_log_carries()
    {
        var logs = new CapturingLoggerProvider();
        await using var host = await JobsTestHost.CreateAsync(services: s => s.AddLogging(b => b.AddProvider(logs)));
        await host.Jobs.CreateIfNotExistsAsync();
        await host.Jobs.GetBlobClient("broken.json").UploadAsync(BinaryData.FromString("{\"id\": \"broken\", \"status\": "));

        var reply = await host.GetAsync("broken");

        Assert.Equal(500, reply.Status);
        Assert.StartsWith("application/problem+json", reply.ContentType);
        var correlation = reply.Body.GetProperty("correlation_id").GetString();
        Assert.False(string.IsNullOrEmpty(correlation));
        Assert.Contains(correlation, reply.Body.GetProperty("detail").GetString());
        var error = Assert.Single(logs.Entries, e => e.Level == LogLevel.Error && e.Category == typeof(JobsApi).FullName);
        Assert.Equal(correlation, error.Values["CorrelationId"]?.ToString());
        // The exception is logged, naming the record that could not be read.
        Assert.Contains("broken.json", Assert.IsType<InvalidDataException>(error.Exception).Message);
    }

    public void Dispose() => _storage.Dispose();

    /// <summary>No model: the submit skips the token count and goes straight to storage.</summary>
    private sealed class NoModel : ITokenizerSource
    {
        public Task<SubmitModel> AcquireAsync(CancellationToken cancellationToken) =>
            Task.FromException<SubmitModel>(new InvalidOperationException("no model in this test"));
    }
}
