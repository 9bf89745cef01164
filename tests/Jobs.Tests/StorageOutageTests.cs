using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary>Storage down: the API answers 503 problem+json with Retry-After (not a bare 500); the worker throws to be retried.</summary>
public sealed class StorageOutageTests
{
    // Azurite's well-known (public) development account with chosen endpoints; port 9 refuses every request at once.
    private static string DevelopmentAccount(int blobPort, int queuePort) =>
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
        $"BlobEndpoint=http://127.0.0.1:{blobPort}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{queuePort}/devstoreaccount1;";

    private static readonly string Unreachable = DevelopmentAccount(blobPort: 9, queuePort: 9);

    private static ServiceProvider Services() => new ServiceCollection().AddPromptJobs(new ConfigurationBuilder().AddInMemoryCollection(
        new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage"] = Unreachable,
            ["Model:CacheDirectory"] = Path.Combine(Path.GetTempPath(), "jobs-tests", "outage-" + Guid.NewGuid().ToString("N")),
            ["Jobs:SubmitTokenizerWaitSeconds"] = "1",
        }).Build()).BuildServiceProvider();

    [Fact]
    public async Task Submit_and_get_answer_503_with_retry_after()
    {
        await using var services = Services();
        var api = services.GetRequiredService<JobsApi>();

        var submit = await JobsTestHost.ExecuteAsync(await api.SubmitAsync(JobsTestHost.JsonRequest("""{"prompt": "hi"}"""), CancellationToken.None));
        Assert.Equal(503, submit.Status);
        Assert.StartsWith("application/problem+json", submit.ContentType);
        Assert.True(int.Parse(submit.Headers.RetryAfter.ToString()) > 0);

        var get = await JobsTestHost.ExecuteAsync(await api.GetAsync(new Microsoft.AspNetCore.Http.DefaultHttpContext().Request, "abc", CancellationToken.None));
        Assert.Equal(503, get.Status);
    }

    [Fact]
    public async Task Worker_throws_so_the_host_retries()
    {
        await using var services = Services();
        var worker = services.GetRequiredService<JobWorker>();
        var e = await Assert.ThrowsAsync<AggregateException>(() => worker.ProcessAsync("hello", Guid.NewGuid().ToString(), 1, CancellationToken.None));
        // The SDK's retries gave up: every attempt failed to connect (status 0), nothing else went wrong.
        Assert.All(e.InnerExceptions, inner => Assert.Equal(0, Assert.IsType<Azure.RequestFailedException>(inner).Status));
    }

    [Fact]
    public async Task Job_whose_message_cannot_be_queued_is_closed_as_failed_not_left_queued()
    {
        // Blobs on Azurite, the queue endpoint refused.
        await TestStorage.EnsureReachableAsync();
        var jobs = "jt" + Guid.NewGuid().ToString("N")[..12] + "-jobs";
        var connection = DevelopmentAccount(blobPort: 10000, queuePort: 9);
        await using var services = new ServiceCollection().AddPromptJobs(new ConfigurationBuilder().AddInMemoryCollection(
            new Dictionary<string, string?>
            {
                ["AzureWebJobsStorage"] = connection,
                ["JobsContainer"] = jobs,
                ["CompletionsContainer"] = jobs + "-out",
                ["Model:Container"] = jobs + "-models",
                ["Model:CacheDirectory"] = Path.Combine(Path.GetTempPath(), "jobs-tests", jobs),
            }).Build()).BuildServiceProvider();
        var api = services.GetRequiredService<JobsApi>();
        var blobs = new Azure.Storage.Blobs.BlobServiceClient(TestStorage.ConnectionString);
        try
        {
            var submit = await JobsTestHost.ExecuteAsync(await api.SubmitAsync(JobsTestHost.JsonRequest("""{"prompt": "hi"}"""), CancellationToken.None));
            Assert.Equal(503, submit.Status);

            var records = new List<string>();
            // The records, not the time index beside them (jobs/_by-time/…).
            await foreach (var blob in blobs.GetBlobContainerClient(jobs).GetBlobsAsync()) if (!blob.Name.StartsWith('_')) records.Add(blob.Name);
            var name = Assert.Single(records);
            var get = await JobsTestHost.ExecuteAsync(await api.GetAsync(new Microsoft.AspNetCore.Http.DefaultHttpContext().Request, name[..^5], CancellationToken.None));
            Assert.Equal("failed", get.Body.GetProperty("status").GetString());
            Assert.Equal("enqueue_failed", get.Body.GetProperty("error").GetProperty("code").GetString());
        }
        finally
        {
            await blobs.GetBlobContainerClient(jobs).DeleteIfExistsAsync();
            await blobs.GetBlobContainerClient(jobs + "-out").DeleteIfExistsAsync();
        }
    }
}
