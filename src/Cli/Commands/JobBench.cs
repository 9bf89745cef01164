using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Serverless.Cli.Commands;

/// <summary>
/// <c>serverless jobs bench</c>: a load benchmark against a running host. Submits N one-prompt jobs over HTTP with C in
/// flight, waits for each, and prints throughput (jobs per minute) and job latency percentiles: end to end as the
/// client saw it (submit → observed finished, so within one poll interval) and as recorded (created_at → completed_at).
/// </summary>
internal static class JobBench
{
    public static Command Create()
    {
        var jobs = new Option<int>("--jobs") { Description = "Jobs to submit.", DefaultValueFactory = _ => 200 };
        var concurrency = new Option<int>("--concurrency") { Description = "Jobs in flight at once.", DefaultValueFactory = _ => 16 };
        var prompt = new Option<string>("--prompt") { Description = "The prompt of every job.", DefaultValueFactory = _ => "Where is Ganymede located in the solar system?" };
        var maxNewTokens = new Option<int>("--max-new-tokens") { Description = "max_new_tokens of every job.", DefaultValueFactory = _ => 32 };
        var poll = new Option<int>("--poll-ms") { Description = "Status poll interval per job, ms.", DefaultValueFactory = _ => 200 };
        var url = JobCommands.UrlOption();
        var key = JobCommands.KeyOption();
        var timeout = JobCommands.TimeoutOption(900);
        var command = new Command("bench", "Load benchmark: submit many jobs, print jobs/minute and p50/p95 job latency.")
        {
            jobs, concurrency, prompt, maxNewTokens, poll, url, key, timeout,
        };
        command.SetAction((parse, ct) => JobCommands.Guard(async () =>
        {
            // Checked here, not in a validator: validators do not see default values.
            if (parse.GetValue(jobs) < 1 || parse.GetValue(concurrency) < 1) throw new ArgumentException("--jobs and --concurrency must be at least 1.");
            using var client = JobCommands.Client(parse, url, key);
            var n = parse.GetValue(jobs);
            var spec = new JsonObject
            {
                ["prompt"] = parse.GetValue(prompt),
                ["parameters"] = new JsonObject { ["max_new_tokens"] = parse.GetValue(maxNewTokens) },
            };
            var pollInterval = TimeSpan.FromMilliseconds(parse.GetValue(poll));
            var jobTimeout = TimeSpan.FromSeconds(parse.GetValue(timeout));
            var outcomes = new Outcome[n];
            Console.WriteLine($"bench: {n} jobs, {parse.GetValue(concurrency)} in flight, against {parse.GetValue(url)}");

            var wall = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(0, n),
                new ParallelOptions { MaxDegreeOfParallelism = parse.GetValue(concurrency), CancellationToken = ct },
                async (i, token) =>
                {
                    var started = Stopwatch.GetTimestamp();
                    try
                    {
                        var accepted = await client.SubmitAsync(spec.DeepClone().AsObject(), token);
                        var final = await client.WaitAsync(accepted.GetProperty("id").GetString()!, jobTimeout, pollInterval, token);
                        outcomes[i] = new Outcome(
                            final.GetProperty("status").GetString()!,
                            Stopwatch.GetElapsedTime(started),
                            RecordedLatency(final),
                            null);
                    }
                    catch (Exception ex) when (ex is JobClientException or TimeoutException or HttpRequestException)
                    {
                        outcomes[i] = new Outcome("error", Stopwatch.GetElapsedTime(started), null, ex.Message);
                    }
                });
            wall.Stop();

            var succeeded = outcomes.Where(o => o.Status == "succeeded").ToArray();
            Console.WriteLine($"finished: {succeeded.Length} succeeded, {outcomes.Count(o => o.Status == "failed")} failed, {outcomes.Count(o => o.Status == "error")} client errors in {wall.Elapsed.TotalSeconds:0.0} s");
            foreach (var error in outcomes.Where(o => o.Error is not null).Select(o => o.Error).Distinct().Take(3))
                Console.WriteLine($"  error: {error}");
            Console.WriteLine(F($"throughput: {succeeded.Length / wall.Elapsed.TotalMinutes:0.0} jobs/minute"));
            if (succeeded.Length > 0)
            {
                var seen = succeeded.Select(o => o.ClientLatency.TotalMilliseconds).Order().ToArray();
                Console.WriteLine(F($"latency (client, submit → seen done): p50 {Percentile(seen, 50):0} ms, p95 {Percentile(seen, 95):0} ms, max {seen[^1]:0} ms"));
                var recorded = succeeded.Where(o => o.RecordedLatency is not null).Select(o => o.RecordedLatency!.Value.TotalMilliseconds).Order().ToArray();
                if (recorded.Length > 0)
                    Console.WriteLine(F($"latency (recorded, created_at → completed_at): p50 {Percentile(recorded, 50):0} ms, p95 {Percentile(recorded, 95):0} ms, max {recorded[^1]:0} ms"));
            }
            return succeeded.Length == n ? 0 : 1;
        }));
        return command;
    }

    private static TimeSpan? RecordedLatency(JsonElement job) =>
        job.TryGetProperty("created_at", out var c) && job.TryGetProperty("completed_at", out var d)
            && c.ValueKind == JsonValueKind.String && d.ValueKind == JsonValueKind.String
            ? d.GetDateTimeOffset() - c.GetDateTimeOffset() : null;

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    internal static double Percentile(double[] sorted, double p)
    {
        var rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private sealed record Outcome(string Status, TimeSpan ClientLatency, TimeSpan? RecordedLatency, string? Error);
}
