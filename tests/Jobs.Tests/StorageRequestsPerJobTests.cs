using Azure.Core;
using Azure.Storage.Blobs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Serverless.Jobs.Models;
using Serverless.Jobs.Storage;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary>
/// What one job costs in storage requests, counted at the client (each is a billed transaction, and with shared decode
/// batches an instance's jobs make them in bursts of 16): the submit creates the record and its time-index entry without
/// looking first; the worker reads the record once and then writes each change with one request, starting from the version
/// it wrote last (<see cref="TrackedRecord"/>), and the index entry once more when the job ends. A version someone else
/// replaced in between costs a retry, never a wrong record.
/// </summary>
public sealed class StorageRequestsPerJobTests
{
    [Fact]
    public async Task A_job_reads_its_record_once_and_writes_each_change_with_one_request()
    {
        var submit = new CountingRequests();
        var worker = new CountingRequests();
        await using var host = await JobsTestHost.CreateAsync(withModel: true,
            settings: new Dictionary<string, string?>
            {
                // Keep the cancel watcher's HEADs and progress writes out of the count: they depend on timing, not on the job.
                ["Jobs:CancelPollMilliseconds"] = "600000",
                ["Jobs:ProgressIntervalMilliseconds"] = "600000",
            },
            services: s =>
            {
                s.AddSingleton(sp => CountedContainers(sp, worker));
                s.AddSingleton(sp => JobsServiceCollectionExtensions.NewJobsApi(sp, CountedContainers(sp, submit)));
            });

        var id = await host.SubmitAcceptedAsync("""{"prompt": "Where is Ganymede?", "parameters": {"max_new_tokens": 4}}""");
        await host.ProcessNextAsync();
        var (submitted, worked) = (submit.Of(id), worker.Of(id));

        Assert.Equal(JobStatus.Succeeded, (await host.RecordAsync(id)).Status);
        Assert.Equal(["PUT index", "PUT record"], submitted);
        // Read once; running and succeeded written from the version read and the one written; the index entry set once, at
        // the end, without a lookup.
        Assert.Equal(["GET record", "PUT index metadata", "PUT output", "PUT record", "PUT record"], worked);
    }

    [Fact]
    public async Task A_change_from_a_version_replaced_since_is_made_again_over_a_fresh_read()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var id = "tracked-" + Guid.NewGuid().ToString("N");
        Assert.True(await host.Store.CreateAsync(JobRecord.Created(id, DateTimeOffset.UtcNow, JobRecord.FromHttp, promptCount: 1), CancellationToken.None));
        var tracked = await host.Store.TrackAsync(id, CancellationToken.None);
        Assert.Equal(JobStatus.Queued, tracked.Record!.Status);

        // Another delivery starts the job; this one's view still says queued, so its write fails its If-Match.
        Assert.Equal(1, (await host.Store.UpdateAsync(id, r => r?.Started(DateTimeOffset.UtcNow, 1), CancellationToken.None))!.Attempts);
        var mine = await host.Store.UpdateAsync(tracked, r => r?.Started(DateTimeOffset.UtcNow, 1), CancellationToken.None);

        Assert.Equal(2, mine!.Attempts);
        Assert.Equal(2, (await host.RecordAsync(id)).Attempts);
        Assert.Equal(tracked.ETag, (await host.Store.GetAsync(id, CancellationToken.None))!.Value.ETag);
    }

    [Fact]
    public async Task No_change_is_decided_on_storage_not_on_a_tracked_version()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var id = "tracked-" + Guid.NewGuid().ToString("N");
        Assert.True(await host.Store.CreateAsync(JobRecord.Created(id, DateTimeOffset.UtcNow, JobRecord.FromHttp, promptCount: 2), CancellationToken.None));
        var tracked = await host.Store.TrackAsync(id, CancellationToken.None);
        await host.Store.UpdateAsync(id, r => r?.Started(DateTimeOffset.UtcNow, 2), CancellationToken.None);

        // Progress applies only to a running record: on the tracked (queued) version it would be "no change".
        var progressed = await host.Store.UpdateAsync(tracked, r => r?.Progressed(new JobProgress(1, 2, 7)), CancellationToken.None);

        Assert.Equal(1, progressed!.Progress!.PromptsDone);
        Assert.Equal(1, (await host.RecordAsync(id)).Progress!.PromptsDone);
    }

    [Fact]
    public async Task A_change_that_loses_to_a_cancel_writes_no_index_entry_and_a_missing_entry_is_made_at_the_end()
    {
        var counting = new CountingRequests();
        await using var host = await JobsTestHost.CreateAsync();
        var store = TestStores.Records(CountedContainers(host.Services, counting));
        var id = "tracked-" + Guid.NewGuid().ToString("N");
        Assert.True(await store.CreateAsync(JobRecord.Created(id, DateTimeOffset.UtcNow, JobRecord.FromHttp, promptCount: 1), CancellationToken.None));
        var tracked = await store.TrackAsync(id, CancellationToken.None);
        await store.UpdateAsync(tracked, r => r?.Started(DateTimeOffset.UtcNow, 1), CancellationToken.None);

        // A cancel from another instance ends the job; the worker's success then fails on the record (412, re-read:
        // cancelled stays) and writes no index entry.
        await host.Store.UpdateAsync(id, r => r?.Cancel(DateTimeOffset.UtcNow), CancellationToken.None);
        counting.Clear();
        var final = await store.UpdateAsync(tracked, r => r?.Succeed(DateTimeOffset.UtcNow, new JobUsage(1, 1, 1, 1)), CancellationToken.None);

        Assert.Equal(JobStatus.Cancelled, final!.Status);
        Assert.Equal(["GET record", "PUT record"], counting.Of(id));
        var (listed, _) = await host.Store.ListAsync(null, 10, null, 1, CancellationToken.None);
        Assert.Equal(JobStatus.Cancelled, Assert.Single(listed, e => e.Id == id).Status);

        // An entry whose create failed (best effort) is made when the job ends.
        var other = "tracked-" + Guid.NewGuid().ToString("N");
        Assert.True(await store.CreateAsync(JobRecord.Created(other, DateTimeOffset.UtcNow, JobRecord.FromHttp, promptCount: 1), CancellationToken.None));
        var mine = await store.TrackAsync(other, CancellationToken.None);
        await store.UpdateAsync(mine, r => r?.Started(DateTimeOffset.UtcNow, 1), CancellationToken.None);
        await host.Jobs.DeleteBlobAsync(JobTimeIndex.Name(other, mine.Record!.CreatedAt));
        counting.Clear();
        await store.UpdateAsync(mine, r => r?.Succeed(DateTimeOffset.UtcNow, new JobUsage(1, 1, 1, 1)), CancellationToken.None);

        Assert.Equal(["PUT index", "PUT index metadata", "PUT record"], counting.Of(other));
        (listed, _) = await host.Store.ListAsync(null, 10, null, 1, CancellationToken.None);
        Assert.Equal(JobStatus.Succeeded, Assert.Single(listed, e => e.Id == other).Status);
    }

    /// <summary>The containers every store over them shares (as the host's worker stores share one), counted.</summary>
    private static JobContainers CountedContainers(IServiceProvider services, CountingRequests counting)
    {
        var options = services.GetRequiredService<PromptJobsOptions>();
        var clientOptions = new BlobClientOptions();
        clientOptions.AddPolicy(counting, HttpPipelinePosition.PerRetry);
        return TestStores.Containers(new BlobServiceClient(TestStorage.ConnectionString, clientOptions), options.JobsContainer, options.CompletionsContainer);
    }
}
