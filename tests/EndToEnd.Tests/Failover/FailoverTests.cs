using System.Diagnostics;
using System.Text.Json;
using Serverless.EndToEnd.Tests.Hosts;

namespace Serverless.EndToEnd.Tests.Failover;

/// <summary>
/// Two local hosts on one Azurite (<see cref="TwoLocalHosts"/>: heartbeat 1 s, dead after 5 s, sweep every 1 s): what
/// happens to the jobs of a host that is killed, stopped, or merely slow. Each test starts its own pair.
/// </summary>
/// <remarks>
/// The killed and stopped hosts decode one prompt of one job at a time (<c>Jobs__DynamicBatching=false</c>,
/// <c>Jobs__BatchSize=1</c>), so that a host holds one job part-way through — its progress says so, written after each
/// prompt — and others not started, whatever the machine's speed. (Waiting instead for a job to have been running for a
/// second missed every job on a fast machine: the tiny model decodes a host's three 8-prompt jobs in one shared batch in
/// about a second, so all ended unseen and the wait ran out as "no job made progress".)
/// </remarks>
[Collection("TwoHosts")]
public sealed class FailoverTests
{
    private const int Prompts = 8;
    private const int Tokens = 512;
    private static readonly TimeSpan Finish = TimeSpan.FromSeconds(240);

    /// <summary>Long enough for the running job's last half on a loaded 2-core machine, far longer than a hand-back.</summary>
    private static readonly TimeSpan DrainBudget = TimeSpan.FromSeconds(30);

    /// <summary>From the end of the owner's last heartbeat to the job running again elsewhere: dead-after, one sweep, the
    /// queue's polling and a start; generous for a loaded 2-core machine.</summary>
    private static readonly TimeSpan TakeoverBound = TwoLocalHosts.DeadAfter + TwoLocalHosts.Sweep + TimeSpan.FromSeconds(15);

    /// <summary>A host hands a job it had not started back within this of SIGTERM: a few storage writes, the message's
    /// 2 s before it shows (ShutdownDrain.HandBackDelay) and the other host's next poll (host.json maxPollingInterval
    /// 0.5 s), on a loaded machine.</summary>
    private static readonly TimeSpan AtOnce = TimeSpan.FromSeconds(10);

    private static readonly Dictionary<string, string> OnePromptAtATime = new()
    {
        ["Jobs__DynamicBatching"] = "false",
        ["Jobs__BatchSize"] = "1",
    };

    private static object LongJob(int i) => new
    {
        prompts = Enumerable.Range(0, Prompts).Select(p => $"Job {i} prompt {p}: where is Ganymede?").ToArray(),
        parameters = new { max_new_tokens = Tokens, min_new_tokens = Tokens },
    };

    [Fact]
    public async Task A_killed_hosts_jobs_finish_once_on_the_other_host_within_the_bound()
    {
        await using var pair = await TwoLocalHosts.StartAsync(OnePromptAtATime);
        var ids = new List<string>();
        for (var i = 0; i < 6; i++) ids.Add(await pair.Hosts[i % 2].SubmitAsync(LongJob(i)));

        // Kill a host while it is part-way through one job and holds others.
        var (victim, held, _) = await WaitForHolderAsync(pair, ids);
        await victim.SignalAsync("KILL");
        var killed = DateTimeOffset.UtcNow;
        var survivor = pair.Hosts.Single(h => h != victim);

        foreach (var id in ids)
        {
            var job = await WaitAsync(survivor, id, Finish, pair);
            Assert.True(job.GetProperty("status").GetString() == "succeeded", job.GetRawText() + pair.Logs());
            Assert.Equal(Prompts, job.GetProperty("results").GetArrayLength());
        }
        var takenOver = 0;
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
            takenOver++;
        }
        Assert.True(takenOver >= held.Count - 1, $"only {takenOver} of the {held.Count} jobs the killed host held were taken over");
    }

    [Fact]
    public async Task A_stopped_host_finishes_its_running_job_within_the_drain_budget_and_hands_the_others_back_at_once()
    {
        await using var pair = await TwoLocalHosts.StartAsync(new Dictionary<string, string>(OnePromptAtATime)
        {
            ["Failover__DrainBudget"] = DrainBudget.ToString(),
        });
        var ids = new List<string>();
        for (var i = 0; i < 6; i++) ids.Add(await pair.Hosts[i % 2].SubmitAsync(LongJob(i)));

        var (victim, held, running) = await WaitForHolderAsync(pair, ids);
        await victim.SignalAsync("TERM");
        var stopped = DateTimeOffset.UtcNow;
        var survivor = pair.Hosts.Single(h => h != victim);

        foreach (var id in ids)
        {
            var job = await WaitAsync(survivor, id, Finish, pair);
            Assert.True(job.GetProperty("status").GetString() == "succeeded", job.GetRawText() + pair.Logs());
            Assert.Equal(Prompts, job.GetProperty("results").GetArrayLength());
        }

        // The job part-way through its decode finished on the stopping host, after SIGTERM and within the budget: one
        // attempt, answered once, by its first owner.
        var finished = await pair.RecordAsync(running);
        Assert.True(victim.InstanceId == finished.GetProperty("lease").GetProperty("owner").GetString(), "the running job was not finished by its host\n" + finished.GetRawText() + pair.Logs());
        Assert.Equal(1, finished.GetProperty("attempts").GetInt32());
        var completedAt = finished.GetProperty("completed_at").GetDateTimeOffset();
        Assert.True(completedAt > stopped && completedAt - stopped < DrainBudget,
            $"the running job completed {(completedAt - stopped).TotalSeconds:F1} s after SIGTERM (budget {DrainBudget.TotalSeconds} s)");

        // The jobs it held but had not started were handed back at once (not when the budget ran out, nor by a sweep)
        // and answered once, by the other host.
        var others = held.Where(id => id != running).ToList();
        Assert.NotEmpty(others);
        foreach (var id in others)
        {
            var record = await pair.RecordAsync(id);
            Assert.True(survivor.InstanceId == record.GetProperty("lease").GetProperty("owner").GetString(), record.GetRawText() + pair.Logs());
            Assert.Equal(2, record.GetProperty("attempts").GetInt32());
            Assert.Equal("instance_lost", record.GetProperty("last_error").GetProperty("code").GetString());
            Assert.Contains("shutting down", record.GetProperty("last_error").GetProperty("message").GetString(), StringComparison.Ordinal);
            var retaken = record.GetProperty("lease").GetProperty("acquired_at").GetDateTimeOffset();
            Assert.True(retaken - stopped < AtOnce, $"job {id} ran again {(retaken - stopped).TotalSeconds:F1} s after SIGTERM" + pair.Logs());
        }
        Assert.True(victim.Process.HasExited || await ExitsAsync(victim), "the stopped host did not exit\n" + victim.Process.Tail());
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

    /// <summary>
    /// Waits until a host is part-way through a job (its progress: at least one prompt done, at most half) and holds at
    /// least one other; names that host, every running job it holds, and the one part-way through. Fails at once, naming
    /// the cause, when every job ended before that was seen.
    /// </summary>
    private static async Task<(TwoLocalHosts.Host Host, List<string> Held, string Running)> WaitForHolderAsync(TwoLocalHosts pair, List<string> ids)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Finish)
        {
            var owners = new Dictionary<string, List<string>>();
            var partWay = new Dictionary<string, string>();
            var ended = 0;
            foreach (var id in ids)
            {
                JsonElement record;
                try { record = await pair.RecordAsync(id); }
                catch (Azure.RequestFailedException e) when (e.Status == 404) { continue; }
                var status = record.GetProperty("status").GetString();
                if (status is "succeeded" or "failed" or "cancelled") ended++;
                if (status != "running" || !record.TryGetProperty("lease", out var lease) || lease.ValueKind != JsonValueKind.Object) continue;
                var owner = lease.GetProperty("owner").GetString()!;
                (owners.TryGetValue(owner, out var list) ? list : owners[owner] = []).Add(id);
                if (record.TryGetProperty("progress", out var progress) && progress.ValueKind == JsonValueKind.Object
                    && progress.GetProperty("prompts_done").GetInt32() is >= 1 and <= Prompts / 2)
                {
                    partWay[owner] = id;
                }
            }
            foreach (var (owner, running) in partWay)
            {
                if (owners[owner].Count >= 2) return (pair.Hosts.Single(h => h.InstanceId == owner), owners[owner], running);
            }
            Assert.True(ended < ids.Count, "every job ended before a host was seen part-way through one while holding another: the jobs are too short for this machine" + pair.Logs());
            await Task.Delay(100);
        }
        throw new TimeoutException("no host was seen part-way through a job while holding another" + pair.Logs());
    }

    private static async Task<bool> ExitsAsync(TwoLocalHosts.Host host)
    {
        var clock = Stopwatch.StartNew();
        while (!host.Process.HasExited && clock.Elapsed < TimeSpan.FromSeconds(60)) await Task.Delay(250);
        return host.Process.HasExited;
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
