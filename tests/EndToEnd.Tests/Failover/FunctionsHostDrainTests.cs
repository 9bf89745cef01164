using System.Diagnostics;
using System.Text.Json;
using Serverless.EndToEnd.Tests.Hosts;
using Serverless.EndToEnd.Tests.Infrastructure;

namespace Serverless.EndToEnd.Tests.Failover;

/// <summary>
/// SIGTERM under the real Azure Functions host (<c>../shared/functions-host</c>), whose shutdown differs from the local
/// host's: it stops its script host (10 s at most), cancels the worker's invocations (<c>InvocationCancel</c>) and then
/// ends the worker (<c>WorkerTerminate</c>, 5 s). The real host runs beside a local host on one Azurite; it is stopped
/// part-way through a job: that job is finished there within the drain budget, the jobs it had not started run on the
/// local host at once, every job is answered once. Skipped only when the real host's source folder does not exist.
/// </summary>
[Collection("TwoHosts")]
public sealed class FunctionsHostDrainTests
{
    private const int Prompts = 8;
    private static readonly TimeSpan Finish = TimeSpan.FromSeconds(240);

    /// <summary>The default (8 s): what fits in the Functions host's own stop (docs/reliability.md).</summary>
    private static readonly TimeSpan DrainBudget = TimeSpan.FromSeconds(8);

    [SkippableFact]
    public async Task A_stopped_functions_host_drains_its_running_job_and_hands_the_others_back_at_once()
    {
        Skip.IfNot(Directory.Exists(PublishedApp.HostSourceDirectory), $"{PublishedApp.HostSourceDirectory} does not exist (the real Functions host's source)");
        // One prompt at a time, so the real host is seen part-way through one job while holding others; dead after 60 s, so
        // that a sweep cannot be what moves its jobs within the bounds asserted below.
        await using var pair = await TwoLocalHosts.StartAsync(new Dictionary<string, string>
        {
            ["Jobs__DynamicBatching"] = "false",
            ["Jobs__BatchSize"] = "1",
            ["Jobs__MaxPromptsPerJob"] = Prompts.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Failover__DeadAfter"] = "00:01:00",
            ["Failover__DrainBudget"] = DrainBudget.ToString(),
            // Each host takes few messages at once, so the real host does not take them all before the other starts.
            ["AzureFunctionsJobHost__extensions__queues__batchSize"] = "4",
            ["AzureFunctionsJobHost__extensions__queues__newBatchThreshold"] = "2",
        }, firstIsFunctionsHost: true);
        var functionsHost = pair.Hosts[0];
        var local = pair.Hosts[1];
        var ids = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            ids.Add(await local.SubmitAsync(new
            {
                prompts = Enumerable.Range(0, Prompts).Select(p => $"Job {i} prompt {p}: where is Ganymede?").ToArray(),
                parameters = new { max_new_tokens = 256, min_new_tokens = 256 },
            }));
        }

        var (held, running) = await WaitUntilPartWayAsync(pair, functionsHost, ids);
        await functionsHost.SignalAsync("TERM");
        var stopped = DateTimeOffset.UtcNow;

        foreach (var id in ids)
        {
            var clock = Stopwatch.StartNew();
            JsonElement job;
            while ((job = await local.GetAsync(id)).GetProperty("status").GetString() is not ("succeeded" or "failed" or "cancelled"))
            {
                Assert.True(clock.Elapsed < Finish, $"job {id} did not finish: {job}" + pair.Logs());
                await Task.Delay(250);
            }
            Assert.True(job.GetProperty("status").GetString() == "succeeded", job.GetRawText() + pair.Logs());
        }

        var finished = await pair.RecordAsync(running);
        Assert.True(functionsHost.InstanceId == finished.GetProperty("lease").GetProperty("owner").GetString(),
            "the running job was not finished by the stopping Functions host\n" + finished.GetRawText() + pair.Logs());
        Assert.Equal(1, finished.GetProperty("attempts").GetInt32());
        var completedAt = finished.GetProperty("completed_at").GetDateTimeOffset();
        Assert.True(completedAt > stopped && completedAt - stopped < DrainBudget + TimeSpan.FromSeconds(2),
            $"the running job completed {(completedAt - stopped).TotalSeconds:F1} s after SIGTERM (budget {DrainBudget.TotalSeconds} s)");
        foreach (var id in held.Where(id => id != running))
        {
            var record = await pair.RecordAsync(id);
            Assert.True(local.InstanceId == record.GetProperty("lease").GetProperty("owner").GetString(), record.GetRawText() + pair.Logs());
            Assert.Equal(2, record.GetProperty("attempts").GetInt32());
            Assert.Contains("shutting down", record.GetProperty("last_error").GetProperty("message").GetString(), StringComparison.Ordinal);
            var retaken = record.GetProperty("lease").GetProperty("acquired_at").GetDateTimeOffset();
            Assert.True(retaken - stopped < TimeSpan.FromSeconds(10), $"job {id} ran again {(retaken - stopped).TotalSeconds:F1} s after SIGTERM" + pair.Logs());
        }
    }

    /// <summary>Waits until <paramref name="host"/> is part-way through a job (progress: one prompt done, at most half) and
    /// holds another; names the jobs it holds and the one part-way through.</summary>
    private static async Task<(List<string> Held, string Running)> WaitUntilPartWayAsync(TwoLocalHosts pair, TwoLocalHosts.Host host, List<string> ids)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Finish)
        {
            var held = new List<string>();
            string? running = null;
            foreach (var id in ids)
            {
                JsonElement record;
                try { record = await pair.RecordAsync(id); }
                catch (Azure.RequestFailedException e) when (e.Status == 404) { continue; }
                if (record.GetProperty("status").GetString() != "running" || !record.TryGetProperty("lease", out var lease) || lease.ValueKind != JsonValueKind.Object
                    || lease.GetProperty("owner").GetString() != host.InstanceId)
                {
                    continue;
                }

                held.Add(id);
                if (record.TryGetProperty("progress", out var progress) && progress.ValueKind == JsonValueKind.Object
                    && progress.GetProperty("prompts_done").GetInt32() is >= 1 and <= Prompts / 2)
                {
                    running = id;
                }
            }
            if (running is not null && held.Count >= 2) return (held, running);
            await Task.Delay(100);
        }
        throw new TimeoutException($"the Functions host was never seen part-way through a job while holding another" + pair.Logs());
    }
}
