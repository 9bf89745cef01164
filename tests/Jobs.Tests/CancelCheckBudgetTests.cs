using Azure.Core;
using Azure.Storage.Blobs;
using Microsoft.Extensions.Logging.Abstractions;
using Serverless.Jobs.Cancellation;
using Serverless.Jobs.Storage;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary>
/// An instance running many jobs (shared decode batches hold 16–32) checks their records for a cancel at a bounded rate,
/// round robin, instead of one HEAD per job per tick; a cancel is still seen within one round.
/// </summary>
[Collection(TimingSensitiveCollection.Name)]
public sealed class CancelCheckBudgetTests : IAsyncLifetime
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(250);
    private readonly CountingRequests _requests = new();
    private JobStore _store = null!;
    private BlobContainerClient _jobs = null!;
    private BlobContainerClient _completions = null!;

    public async Task InitializeAsync()
    {
        await TestStorage.EnsureReachableAsync();
        var options = new BlobClientOptions();
        options.AddPolicy(_requests, HttpPipelinePosition.PerCall);
        var blobs = new BlobServiceClient(TestStorage.ConnectionString, options);
        var name = "cb" + Guid.NewGuid().ToString("N")[..12];
        _jobs = blobs.GetBlobContainerClient(name + "-jobs");
        _completions = blobs.GetBlobContainerClient(name + "-completions");
        _store = TestStores.Records(new JobContainers(_jobs, _completions));
    }

    public async Task DisposeAsync()
    {
        await _jobs.DeleteIfExistsAsync();
        await _completions.DeleteIfExistsAsync();
    }

    [Fact]
    public async Task Twelve_running_jobs_are_checked_round_robin_within_the_rate_and_a_cancel_is_seen_within_a_round()
    {
        var ids = Enumerable.Range(0, 12).Select(i => $"budget-{i:D2}-{Guid.NewGuid():N}").ToList();
        foreach (var id in ids)
            Assert.True(await _store.CreateAsync(JobRecord.Created(id, DateTimeOffset.UtcNow, JobRecord.FromHttp), CancellationToken.None));
        var perTick = Math.Max(1, (int)(JobCancellationWatcher.MaxChecksPerSecond * Interval.TotalSeconds)); // 2
        var round = Interval * Math.Ceiling(ids.Count / (double)perTick); // every job once: 6 ticks, 1.5 s

        await using var watcher = new JobCancellationWatcher(_store, Interval, NullLogger<JobCancellationWatcher>.Instance);
        var handles = ids.Select(id => watcher.Watch(id, CancellationToken.None)).ToList();
        _requests.Clear();
        var watching = System.Diagnostics.Stopwatch.StartNew();
        await Task.Delay(round * 2);
        var elapsed = watching.Elapsed;
        // The watcher's record checks: HEADs of the records.
        var counts = ids.Select(id => _requests.Of(id).Count(r => r == "HEAD record")).ToList();

        // At most the budget (one tick of slack for timer phase), and no job left out of two rounds.
        var ticks = (int)(elapsed / Interval) + 1;
        Assert.True(counts.Sum() <= ticks * perTick, $"{counts.Sum()} record checks in {elapsed.TotalMilliseconds:F0} ms; the budget allows {ticks * perTick}.");
        Assert.All(counts, c => Assert.InRange(c, 1, 3));

        // A cancel of the job checked last is still seen within about one round.
        var target = ids[counts.IndexOf(counts.Min())];
        Assert.NotNull(await _store.UpdateAsync(target, r => r?.Cancel(DateTimeOffset.UtcNow), CancellationToken.None));
        var cancelled = handles[ids.IndexOf(target)];
        var seen = System.Diagnostics.Stopwatch.StartNew();
        while (!cancelled.IsCancelled && seen.Elapsed < round * 3) await Task.Delay(20);

        Assert.True(cancelled.IsCancelled, $"The cancel was not seen in {seen.Elapsed.TotalMilliseconds:F0} ms.");
        Assert.True(cancelled.Token.IsCancellationRequested);
        Assert.True(seen.Elapsed < round + Interval * 3, $"The cancel took {seen.Elapsed.TotalMilliseconds:F0} ms to be seen; a round is {round.TotalMilliseconds:F0} ms.");
        Assert.All(handles.Where(h => h != cancelled), h => Assert.False(h.Token.IsCancellationRequested));
        foreach (var handle in handles) handle.Dispose();
    }
}
