using Azure.Core;
using Azure.Storage.Blobs;
using Serverless.Jobs.Batches;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests.Batches;

/// <summary>The chunks of one batch running on an instance share one read of its status per poll interval (real
/// Azurite, requests counted at the client), and a cancel written meanwhile is seen by the first read after it.</summary>
public sealed class BatchStatusPollTests : IAsyncLifetime
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    private readonly CountingRequests _requests = new();
    private readonly ManualClock _clock = new();
    private BatchStore _batches = null!;

    public async Task InitializeAsync()
    {
        await TestStorage.EnsureReachableAsync();
        var options = new BlobClientOptions();
        options.AddPolicy(_requests, HttpPipelinePosition.PerCall);
        _batches = new BatchStore(new BlobServiceClient(TestStorage.ConnectionString, options).GetBlobContainerClient("test-batch-poll-" + Guid.NewGuid().ToString("N")[..10]));
    }

    public Task DisposeAsync() => _batches.Container.DeleteIfExistsAsync();

    private async Task<string> CreateRunningBatchAsync()
    {
        var now = DateTimeOffset.UtcNow;
        var record = BatchesApi.NewRecord(BatchIds.NewBatchId(now), BatchIds.NewFileId(now), "/v1/completions", null, now) with { Status = BatchStatus.InProgress };
        await _batches.CreateAsync(record, default);
        _requests.Clear();
        return record.Id;
    }

    [Fact]
    public async Task Sixteen_chunks_asking_at_once_cost_one_read_and_the_next_interval_one_more()
    {
        var id = await CreateRunningBatchAsync();
        var poll = new BatchStatusPoll(_batches, Interval, _clock);

        var statuses = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => poll.GetAsync(id, default)));
        Assert.All(statuses, s => Assert.Equal(BatchStatus.InProgress, s));
        Assert.Equal(["GET record"], _requests.Of(id));

        _clock.Advance(Interval / 2);
        await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => poll.GetAsync(id, default)));
        Assert.Single(_requests.Of(id));

        _clock.Advance(Interval);
        await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => poll.GetAsync(id, default)));
        Assert.Equal(["GET record", "GET record"], _requests.Of(id));
    }

    [Fact]
    public async Task A_cancel_is_seen_by_the_first_read_after_it_and_a_missing_batch_is_null()
    {
        var id = await CreateRunningBatchAsync();
        var poll = new BatchStatusPoll(_batches, Interval, _clock);
        Assert.Equal(BatchStatus.InProgress, await poll.GetAsync(id, default));

        await _batches.UpdateAsync(id, r => r with { Status = BatchStatus.Cancelling }, default);
        Assert.Equal(BatchStatus.InProgress, await poll.GetAsync(id, default)); // within the interval: the shared read
        _clock.Advance(Interval);
        Assert.Equal(BatchStatus.Cancelling, await poll.GetAsync(id, default));

        Assert.Null(await poll.GetAsync("batch_" + Guid.NewGuid().ToString("N"), default));
    }
}
