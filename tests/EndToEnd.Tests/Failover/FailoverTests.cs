using System.Diagnostics;
using System.Text.Json;

namespace Serverless.EndToEnd.Tests.Failover;

/// <summary>
/// Two local hosts on one Azurite (<see cref="TwoLocalHosts"/>: heartbeat 1 s, dead after 5 s, sweep every 1 s): what
/// happens to the jobs of a host that is killed, stopped, or merely slow. Each test starts its own pair.
/// </summary>
[Collection("Failover")]
public sealed class FailoverTests
{
    private const int Prompts = 8;
    private const int Tokens = 512;
    private static readonly TimeSpan Finish = TimeSpan.FromSeconds(240);

    /// <summary>From the end of the owner's last heartbeat to the job running again elsewhere: dead-after, one sweep, the
    /// queue's polling and a start; generous for a loaded 2-core machine.</summary>
    private static readonly TimeSpan TakeoverBound = TwoLocalHosts.DeadAfter + TwoLocalHosts.Sweep + TimeSpan.FromSeconds(15);

    private static object LongJob(int i) => new
    {
        prompts = Enumerable.Range(0, Prompts).Select(p => $"Job {i} prompt {p}: where is Ganymede?").ToArray(),
        parameters = new { max_new_tokens = Tokens, min_new_tokens = Tokens },
    };

    [Fact]
    public async Task A_killed_hosts_jobs_finish_once_on_the_other_host_within_the_bound()
    {
        await using var pair = await TwoLocalHosts.StartAsync();
        var ids = new List<string>();
        for (var i = 0; i < 6; i++) ids.Add(await pair.Hosts[i % 2].SubmitAsync(LongJob(i)));

        // Kill the host that holds the most jobs once some of its jobs are running.
        var (victim, held) = await WaitForHolderAsync(pair, ids);
        await victim.SignalAsync("KILL");
        var killed = DateTimeOffset.UtcNow;
        var survivor = pair.Hosts.Single(h => h != victim);

        foreach (var id in ids)
        {
            var job = await WaitAsync(survivor, id, Finish, pair);
            Assert.True(job.GetProperty("status").GetString() == "succeeded", job.GetRawText() + pair.Logs());
            Assert.Equal(Prompts, job.GetProperty("results").GetArrayLength());
        }
        foreach (var id in held)
        {
            var record = await pair.RecordAsync(id);
            var lease = record.GetProperty("lease");
            if (lease.GetProperty("owner").GetString() == victim.InstanceId && record.GetProperty("attempts").GetInt32() == 1)
                continue; // it finished in the moment between the look and the kill (its success is asserted above)
            Assert.Equal(survivor.InstanceId, lease.GetProperty("owner").GetString());
            Assert.True(record.GetProperty("attempts").GetInt32() >= 2, record.GetRawText());
            var retaken = lease.GetProperty("acquired_at").GetDateTimeOffset();
            Assert.True(retaken - killed <= TakeoverBound, $"job {id} ran again {(retaken - killed).TotalSeconds:F1} s after the kill (bound {TakeoverBound.TotalSeconds} s)");
            Assert.Equal("instance_lost", record.GetProperty("last_error").GetProperty("code").GetString());
        }
    }

    [Fact]
    public async Task A_stopped_host_hands_its_jobs_back_at_once()
    {
        await using var pair = await TwoLocalHosts.StartAsync();
        var ids = new List<string>();
        for (var i = 0; i < 6; i++) ids.Add(await pair.Hosts[i % 2].SubmitAsync(LongJob(i)));

        var (victim, held) = await WaitForHolderAsync(pair, ids);
        await victim.SignalAsync("TERM");
        var stopped = DateTimeOffset.UtcNow;
        var survivor = pair.Hosts.Single(h => h != victim);

        foreach (var id in ids)
        {
            var job = await WaitAsync(survivor, id, Finish, pair);
            Assert.True(job.GetProperty("status").GetString() == "succeeded", job.GetRawText() + pair.Logs());
        }
        foreach (var id in held)
        {
            var record = await pair.RecordAsync(id);
            var lease = record.GetProperty("lease");
            if (lease.GetProperty("owner").GetString() == victim.InstanceId) continue; // finished before the stop took it
            // Handed back by the stopping host itself: running elsewhere well before a sweep could have found it dead.
            var retaken = lease.GetProperty("acquired_at").GetDateTimeOffset();
            Assert.True(retaken - stopped < TwoLocalHosts.DeadAfter, $"job {id} ran again {(retaken - stopped).TotalSeconds:F1} s after SIGTERM" + pair.Logs());
        }
    }

    [Fact]
    public async Task A_job_running_longer_than_dead_after_on_a_live_host_is_not_taken_over()
    {
        // A heartbeat every 0.25 s and dead after 1 s: the job below runs longer than that, all in one decode.
        var deadAfter = TimeSpan.FromSeconds(1);
        await using var pair = await TwoLocalHosts.StartAsync(new Dictionary<string, string>
        {
            ["Failover__HeartbeatInterval"] = "00:00:00.250",
            ["Failover__DeadAfter"] = deadAfter.ToString(),
            ["Jobs__MaxPromptsPerJob"] = "64",
        });
        var spec = new { prompts = Enumerable.Range(0, 64).Select(p => $"prompt {p}").ToArray(), parameters = new { max_new_tokens = 512, min_new_tokens = 512 } };
        var id = await pair.Hosts[0].SubmitAsync(spec);
        var owner = await WaitForOwnerAsync(pair, id);
        var started = Stopwatch.StartNew();
        // Its message again, as when a first delivery comes back: whichever host gets it must see a live owner and drop it.
        await Task.Delay(deadAfter);
        await pair.Queue.SendMessageAsync(JsonSerializer.Serialize(new { id, spec.prompts, spec.parameters }));

        var job = await WaitAsync(pair.Hosts[0], id, Finish, pair);
        Assert.True(started.Elapsed > deadAfter * 1.5, $"the job ran only {started.Elapsed.TotalSeconds:F0} s: too short to show anything; raise its tokens");
        Assert.True(job.GetProperty("status").GetString() == "succeeded", job.GetRawText());
        var record = await pair.RecordAsync(id);
        Assert.Equal(1, record.GetProperty("attempts").GetInt32());
        Assert.Equal(owner, record.GetProperty("lease").GetProperty("owner").GetString());
    }

    private static async Task<string> WaitForOwnerAsync(TwoLocalHosts pair, string id)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Finish)
        {
            try
            {
                var record = await pair.RecordAsync(id);
                if (record.TryGetProperty("lease", out var lease) && lease.ValueKind == JsonValueKind.Object) return lease.GetProperty("owner").GetString()!;
            }
            catch (Azure.RequestFailedException e) when (e.Status == 404) { }
            await Task.Delay(100);
        }
        throw new TimeoutException($"job {id} was never taken" + pair.Logs());
    }

    /// <summary>Waits until some job has been running for a second, then names the host holding the most jobs and those jobs.</summary>
    private static async Task<(TwoLocalHosts.Host Host, List<string> Held)> WaitForHolderAsync(TwoLocalHosts pair, List<string> ids)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Finish)
        {
            var owners = new Dictionary<string, List<string>>();
            var progressed = false;
            foreach (var id in ids)
            {
                JsonElement record;
                try { record = await pair.RecordAsync(id); }
                catch (Azure.RequestFailedException e) when (e.Status == 404) { continue; }
                if (record.GetProperty("status").GetString() != "running" || !record.TryGetProperty("lease", out var lease) || lease.ValueKind != JsonValueKind.Object) continue;
                var owner = lease.GetProperty("owner").GetString()!;
                (owners.TryGetValue(owner, out var list) ? list : owners[owner] = []).Add(id);
                // Decoding for a second (the prompts of a job sharing a batch all finish together, so no progress shows).
                progressed |= DateTimeOffset.UtcNow - lease.GetProperty("acquired_at").GetDateTimeOffset() > TimeSpan.FromSeconds(1);
            }
            if (progressed && owners.Count > 0)
            {
                var (instance, held) = owners.MaxBy(o => o.Value.Count);
                return (pair.Hosts.Single(h => h.InstanceId == instance), held);
            }
            await Task.Delay(100);
        }
        throw new TimeoutException("no job made progress" + pair.Logs());
    }

    private static async Task<JsonElement> WaitAsync(TwoLocalHosts.Host host, string id, TimeSpan limit, TwoLocalHosts pair)
    {
        var clock = Stopwatch.StartNew();
        JsonElement last = default;
        while (clock.Elapsed < limit)
        {
            last = await host.GetAsync(id);
            if (last.GetProperty("status").GetString() is "succeeded" or "failed" or "cancelled") return last;
            await Task.Delay(250);
        }
        throw new TimeoutException($"job {id} did not finish: {last}" + pair.Logs());
    }
}
