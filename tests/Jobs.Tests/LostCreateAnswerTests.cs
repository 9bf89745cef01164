using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Storage.Blobs;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Serverless.Jobs.Models;
using Serverless.Jobs.Storage;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary>
/// Under load a storage try can time out after storage did the work: the client retries, and the retried create of the
/// record is answered 409 BlobAlreadyExists. The submit must know that record for its own (seen as a 500 "exists but
/// cannot be read back" in 1 run of 5 of 200 concurrent submissions on the local host).
/// </summary>
public sealed class LostCreateAnswerTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("lost-answer-key")]
    public async Task A_submit_whose_record_create_answer_was_lost_is_accepted_and_queued_once(string? idempotencyKey)
    {
        var lose = new LoseFirstRecordCreateAnswer();
        await using var host = await JobsTestHost.CreateAsync(services: s => s.AddSingleton(sp => ApiOverLossyStorage(sp, lose)));
        var request = JobsTestHost.JsonRequest("""{"prompt": "hello"}""");
        if (idempotencyKey is not null) request.Headers["Idempotency-Key"] = idempotencyKey;

        var reply = await JobsTestHost.ExecuteAsync(await host.Api.SubmitAsync(request, CancellationToken.None));

        Assert.Equal(1, lose.Lost);
        Assert.Equal(StatusCodes.Status202Accepted, reply.Status);
        var id = reply.Body.GetProperty("id").GetString()!;
        Assert.Equal(JobStatus.Queued, (await host.RecordAsync(id)).Status);
        Assert.Single(await host.PeekAllAsync());
        // The time index (written after the create) lists it too.
        Assert.Single(host.Jobs.GetBlobs(new Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = JobTimeIndex.Prefix }), b => b.Name.EndsWith("-" + id, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_record_another_request_created_is_not_taken_for_this_ones()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var first = JobRecord.Created("same-id", DateTimeOffset.UtcNow, JobRecord.FromHttp);
        var second = JobRecord.Created("same-id", DateTimeOffset.UtcNow, JobRecord.FromHttp);

        Assert.True(await host.Store.CreateAsync(first, CancellationToken.None));
        Assert.False(await host.Store.CreateAsync(second, CancellationToken.None));
    }

    private static JobsApi ApiOverLossyStorage(IServiceProvider services, LoseFirstRecordCreateAnswer lose)
    {
        var options = services.GetRequiredService<PromptJobsOptions>();
        var clientOptions = new BlobClientOptions();
        clientOptions.Retry.Delay = TimeSpan.FromMilliseconds(10);
        clientOptions.Retry.MaxRetries = 2;
        clientOptions.AddPolicy(lose, HttpPipelinePosition.PerRetry);
        var blobs = new BlobServiceClient(TestStorage.ConnectionString, clientOptions);
        return JobsServiceCollectionExtensions.NewJobsApi(services, TestStores.Containers(blobs, options.JobsContainer, options.CompletionsContainer));
    }

    /// <summary>Lets the first PUT of a job record reach storage, then loses its answer the way a timed-out try does; the
    /// client's retry policy (outside this per-try policy) tries again.</summary>
    private sealed class LoseFirstRecordCreateAnswer : HttpPipelinePolicy
    {
        private int _lost;

        public int Lost => Volatile.Read(ref _lost);

        public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            await ProcessNextAsync(message, pipeline);
            if (IsRecordCreate(message) && Interlocked.Exchange(ref _lost, 1) == 0)
                throw new IOException("The answer was lost (simulated).");
        }

        public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline) =>
            throw new NotSupportedException("The job store calls storage asynchronously.");

        private static bool IsRecordCreate(HttpMessage message)
        {
            var path = message.Request.Uri.Path;
            return message.Request.Method == RequestMethod.Put && message.Response.Status == 201 &&
                path.EndsWith(".json", StringComparison.Ordinal) && !path.Contains("/_", StringComparison.Ordinal);
        }
    }
}
