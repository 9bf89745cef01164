using Serverless.Jobs.Storage;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary>Status records under concurrent writers: no lost updates, never backwards, terminal is final.</summary>
public sealed class StatusRecordTests
{
    private static JobRecord Queued(string id) =>
        JobRecord.Created(id, DateTimeOffset.UtcNow, "test");

    [Fact]
    public async Task Concurrent_updates_retry_on_412_and_lose_nothing()
    {
        await using var host = await JobsTestHost.CreateAsync();
        const string id = "concurrent-1";
        Assert.True(await host.Store.CreateAsync(Queued(id), CancellationToken.None));
        Assert.False(await host.Store.CreateAsync(Queued(id), CancellationToken.None)); // If-None-Match: *

        await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => Task.Run(() => host.Store.UpdateAsync(id,
            r => r!.Started(DateTimeOffset.UtcNow, 1), CancellationToken.None))));

        var record = await host.RecordAsync(id);
        Assert.Equal(JobStatus.Running, record.Status);
        Assert.Equal(12, record.Attempts);
    }

    [Fact]
    public async Task Records_never_go_backwards_and_terminal_states_never_change()
    {
        await using var host = await JobsTestHost.CreateAsync();
        const string id = "monotonic-1";
        await host.Store.CreateAsync(Queued(id), CancellationToken.None);

        // Racing writers: some start attempts, one finishes, some try to put it back in the queue (a stale read of the
        // queued record written back: a record no transition produces from a running one).
        var queued = Queued(id);
        var writers = Enumerable.Range(0, 15).Select(i => Task.Run(() => host.Store.UpdateAsync(id, r => i switch
        {
            7 => r!.Succeed(DateTimeOffset.UtcNow, new JobUsage(1, 1, 1, 1)),
            _ when i % 3 == 0 => queued,
            _ => r!.Started(DateTimeOffset.UtcNow, 1),
        }, CancellationToken.None)));
        await Task.WhenAll(writers);

        var final = await host.RecordAsync(id);
        Assert.Equal(JobStatus.Succeeded, final.Status);

        var etag = (await host.Jobs.GetBlobClient($"{id}.json").GetPropertiesAsync()).Value.ETag;
        // Transitions of a terminal record are no change; a record built from an older read is refused by the store.
        var after = await host.Store.UpdateAsync(id, r => r!.Fail(DateTimeOffset.UtcNow, new JobError("x", "late")), CancellationToken.None);
        Assert.Equal(JobStatus.Succeeded, after!.Status);
        await host.Store.UpdateAsync(id, _ => queued.Started(DateTimeOffset.UtcNow, 1), CancellationToken.None);
        await host.Store.UpdateAsync(id, _ => queued.Fail(DateTimeOffset.UtcNow, new JobError("x", "late")), CancellationToken.None);
        Assert.Equal(etag, (await host.Jobs.GetBlobClient($"{id}.json").GetPropertiesAsync()).Value.ETag);
    }

    [Fact]
    public async Task Output_is_written_once()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var first = new JobOutput("out-1", DateTimeOffset.UtcNow, []);
        Assert.True(await host.Outputs.WriteAsync(first, CancellationToken.None));
        var etag = (await host.Completions.GetBlobClient("out-1.json").GetPropertiesAsync()).Value.ETag;
        Assert.False(await host.Outputs.WriteAsync(first with { CreatedAt = DateTimeOffset.UtcNow.AddDays(1) }, CancellationToken.None));
        Assert.Equal(etag, (await host.Completions.GetBlobClient("out-1.json").GetPropertiesAsync()).Value.ETag);
    }
}
