using Microsoft.AspNetCore.Http;
using Serverless.Jobs.Storage;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary><c>GET /api/jobs</c>: pages of the time index, newest first, filtered by status; the records of unfinished jobs
/// are read (the index entry is written when a job is created and when it ends), finished ones come from the index alone.</summary>
public sealed class ListTests
{
    private static async Task<HttpReply> ListAsync(JobsTestHost host, string query)
    {
        var context = new DefaultHttpContext();
        context.Request.QueryString = new QueryString(query);
        return await JobsTestHost.ExecuteAsync(await host.Api.ListAsync(context.Request, CancellationToken.None));
    }

    private static async Task<string[]> CreateJobsAsync(JobsTestHost host, int count, DateTimeOffset start)
    {
        var ids = Enumerable.Range(0, count).Select(i => $"job-{i:D4}").ToArray();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
            Assert.True(await host.Store.CreateAsync(JobRecord.Created(ids[i], start.AddSeconds(i), JobRecord.FromHttp, i % 5 + 1), ct)));
        return ids;
    }

    [Fact]
    public async Task Pages_with_a_continuation_through_250_jobs_newest_first()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var ids = await CreateJobsAsync(host, 250, new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero));

        var seen = new List<string>();
        string? continuation = null;
        var pages = 0;
        do
        {
            var reply = await ListAsync(host, "?limit=100" + (continuation is null ? "" : "&continuation=" + Uri.EscapeDataString(continuation)));
            Assert.Equal(200, reply.Status);
            var jobs = reply.Body.GetProperty("jobs").EnumerateArray().ToArray();
            Assert.InRange(jobs.Length, 1, 100);
            foreach (var job in jobs)
            {
                seen.Add(job.GetProperty("id").GetString()!);
                Assert.Equal("queued", job.GetProperty("status").GetString());
                Assert.True(job.TryGetProperty("created_at", out _));
            }
            continuation = reply.Body.TryGetProperty("continuation", out var c) ? c.GetString() : null;
            pages++;
        } while (continuation is not null);

        Assert.Equal(3, pages);
        Assert.Equal(ids.Reverse(), seen); // newest first, each once
        var first = (await ListAsync(host, "?limit=1")).Body.GetProperty("jobs")[0];
        Assert.Equal(ids[^1], first.GetProperty("id").GetString());
        Assert.Equal(249 % 5 + 1, first.GetProperty("prompt_count").GetInt32());
    }

    [Fact]
    public async Task Status_filter_follows_transitions_and_completed_time()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var ids = await CreateJobsAsync(host, 12, DateTimeOffset.UtcNow.AddMinutes(-1));
        var cancelled = ids.Where((_, i) => i % 3 == 0).ToArray();
        foreach (var id in cancelled) await host.Store.UpdateAsync(id, r => r?.Cancel(DateTimeOffset.UtcNow), CancellationToken.None);

        var reply = await ListAsync(host, "?status=cancelled&limit=3");
        var all = new List<string>();
        while (true)
        {
            Assert.Equal(200, reply.Status);
            foreach (var job in reply.Body.GetProperty("jobs").EnumerateArray())
            {
                Assert.Equal("cancelled", job.GetProperty("status").GetString());
                Assert.True(job.TryGetProperty("completed_at", out _));
                all.Add(job.GetProperty("id").GetString()!);
            }
            if (!reply.Body.TryGetProperty("continuation", out var c)) break;
            reply = await ListAsync(host, "?status=cancelled&limit=3&continuation=" + Uri.EscapeDataString(c.GetString()!));
        }
        Assert.Equal(cancelled.Reverse(), all);
        var queued = (await ListAsync(host, "?status=queued&limit=200")).Body.GetProperty("jobs").EnumerateArray().Select(j => j.GetProperty("id").GetString());
        Assert.Equal(ids.Except(cancelled).Reverse(), queued);
    }

    [Fact]
    public async Task Finished_jobs_come_from_the_index_and_unfinished_ones_from_their_records()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var ids = await CreateJobsAsync(host, 5, DateTimeOffset.UtcNow);
        var (queued, running, finished, orphan, damaged) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
        await host.Store.UpdateAsync(running, r => r?.Started(DateTimeOffset.UtcNow, 2), CancellationToken.None);
        await host.Store.UpdateAsync(finished, r => r?.Cancel(DateTimeOffset.UtcNow), CancellationToken.None);
        // Records removed: a finished job still lists from its entry; an unfinished one without a record lists as its entry says.
        await host.Jobs.DeleteBlobAsync(finished + ".json");
        await host.Jobs.DeleteBlobAsync(orphan + ".json");
        // A record that is not a record (edited by hand) does not take the listing down.
        await host.Jobs.GetBlobClient(damaged + ".json").UploadAsync(BinaryData.FromString("not json"), overwrite: true);

        var jobs = (await ListAsync(host, "")).Body.GetProperty("jobs").EnumerateArray()
            .ToDictionary(j => j.GetProperty("id").GetString()!, j => (Status: j.GetProperty("status").GetString(), Prompts: j.GetProperty("prompt_count").GetInt32()));
        var onlyRunning = (await ListAsync(host, "?status=running")).Body.GetProperty("jobs").EnumerateArray().Select(j => j.GetProperty("id").GetString());

        Assert.Equal(ids.Reverse(), jobs.Keys);
        Assert.Equal("queued", jobs[queued].Status);
        Assert.Equal(("running", 2), jobs[running]);
        Assert.Equal("cancelled", jobs[finished].Status);
        Assert.Equal("queued", jobs[orphan].Status);
        Assert.Equal("queued", jobs[damaged].Status);
        Assert.Equal([running], onlyRunning);
    }

    [Theory]
    [InlineData("?limit=0", "limit")]
    [InlineData("?limit=201", "limit")]
    [InlineData("?limit=ten", "limit")]
    [InlineData("?status=done", "status")]
    [InlineData("?continuation=not-ours", "continuation")]
    public async Task Bad_query_parameters_are_a_400_naming_them(string query, string field)
    {
        await using var host = await JobsTestHost.CreateAsync();
        var reply = await ListAsync(host, query);
        Assert.Equal(400, reply.Status);
        Assert.Contains(field, reply.Errors.Keys);
    }

    [Fact]
    public void Index_names_sort_newest_first()
    {
        var older = JobTimeIndex.Name("a", new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var newer = JobTimeIndex.Name("a", new DateTimeOffset(2026, 1, 1, 0, 0, 1, TimeSpan.Zero));
        Assert.True(string.CompareOrdinal(newer, older) < 0);
    }
}
