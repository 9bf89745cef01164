using System.Diagnostics;
using System.Text.Json;
using Serverless.EndToEnd.Tests.Hosts;
using Xunit.Abstractions;

namespace Serverless.EndToEnd.Tests.Failover;

/// <summary>
/// Resumable jobs across instances (issue 25): a host is SIGKILLed after its job kept some finished prompts in its
/// checkpoint; the other host takes the job over and decodes only the prompts that were not kept (the record's
/// <c>attempt_log</c>: prompts resumed and decoded, tokens generated, per attempt).
/// </summary>
[Collection("Failover")]
public sealed class ResumedJobTests(ITestOutputHelper output)
{
    private const int Prompts = 32;
    private const int Tokens = 512;
    private static readonly TimeSpan Finish = TimeSpan.FromSeconds(240);

    [Fact]
    public async Task A_killed_hosts_job_resumes_on_the_other_host_decoding_only_the_prompts_not_kept()
    {
        // One job per batch, one prompt at a time, so the job's prompts finish one by one over several seconds (the demo
        // model decodes a lone row fast); a checkpoint at most every 250 ms.
        await using var pair = await TwoLocalHosts.StartAsync(new Dictionary<string, string>
        {
            ["Jobs__DynamicBatching"] = "false",
            ["Jobs__BatchSize"] = "1",
            ["Jobs__MaxPromptsPerJob"] = "32",
            ["Failover__CheckpointInterval"] = "00:00:00.250",
        });
        var spec = new
        {
            prompts = Enumerable.Range(0, Prompts).Select(p => $"Prompt {p}: where is Ganymede?").ToArray(),
            parameters = new { max_new_tokens = Tokens, min_new_tokens = Tokens },
        };
        var id = await pair.Hosts[0].SubmitAsync(spec);

        // Kill the owner as soon as its first finished prompts are kept.
        var checkpoint = pair.JobsContainer.GetBlobClient($"_checkpoints/{id}.json");
        var clock = Stopwatch.StartNew();
        while (!(await checkpoint.ExistsAsync()).Value)
        {
            Assert.True(clock.Elapsed < Finish, "no checkpoint was written" + pair.Logs());
            var status = (await pair.Hosts[0].GetAsync(id)).GetProperty("status").GetString();
            Assert.True(status is "queued" or "running", $"the job ended ({status}) before any checkpoint: too short to show anything; raise its tokens");
            await Task.Delay(50);
        }
        var owner = (await pair.RecordAsync(id)).GetProperty("lease").GetProperty("owner").GetString();
        var victim = pair.Hosts.Single(h => h.InstanceId == owner);
        await victim.SignalAsync("KILL");
        var survivor = pair.Hosts.Single(h => h != victim);

        var job = await WaitAsync(survivor, id, pair);
        Assert.True(job.GetProperty("status").GetString() == "succeeded", job.GetRawText() + pair.Logs());
        Assert.Equal(Enumerable.Range(0, Prompts), job.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("index").GetInt32()));

        // Tokens generated per attempt: the killed attempt logs nothing; the one that answered took the kept prompts
        // from the checkpoint and decoded only the others.
        var record = await pair.RecordAsync(id);
        Assert.True(record.TryGetProperty("attempt_log", out _), "the killed host finished the job before the kill: too short to show anything; raise its prompts" + record.GetRawText());
        var attempts = record.GetProperty("attempts").GetInt32();
        Assert.True(attempts >= 2, record.GetRawText());
        output.WriteLine($"attempts {attempts}; attempt_log {record.GetProperty("attempt_log").GetRawText()}");
        var last = record.GetProperty("attempt_log").EnumerateArray().Last();
        Assert.Equal(attempts, last.GetProperty("attempt").GetInt32());
        Assert.Equal(survivor.InstanceId, last.GetProperty("instance").GetString());
        var resumed = last.GetProperty("prompts_resumed").GetInt32();
        var decoded = last.GetProperty("prompts_decoded").GetInt32();
        Assert.True(resumed >= 1 && decoded < Prompts, record.GetRawText());
        Assert.Equal(Prompts, resumed + decoded);
        Assert.Equal(decoded * Tokens, last.GetProperty("tokens_generated").GetInt32());
        Assert.False((await checkpoint.ExistsAsync()).Value, "the checkpoint of an answered job is deleted");
    }

    private static async Task<JsonElement> WaitAsync(TwoLocalHosts.Host host, string id, TwoLocalHosts pair)
    {
        var clock = Stopwatch.StartNew();
        JsonElement last = default;
        while (clock.Elapsed < Finish)
        {
            last = await host.GetAsync(id);
            if (last.GetProperty("status").GetString() is "succeeded" or "failed" or "cancelled") return last;
            await Task.Delay(250);
        }
        throw new TimeoutException($"job {id} did not finish: {last}" + pair.Logs());
    }
}
