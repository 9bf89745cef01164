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
/// The last line is one JSON object (<c>jobs_per_minute</c>, <c>p50_ms</c>, <c>p95_ms</c>, <c>tokens_per_second</c>, …) for
/// scripts. <c>--mixed-prompts N</c> also submits one job of N prompts first and reports it apart (mixed load).
/// <c>--streams N</c> keeps N streamed completions (<c>POST /api/completions</c>, <c>"stream": true</c>, the jobs' prompt and
/// parameters) running beside the jobs for the whole run, each starting the next as it ends, and reports their tokens
/// per second and the aggregate of jobs and streams (<c>stream_tokens_per_second</c>, <c>aggregate_tokens_per_second</c>).
/// </summary>
internal static class JobBench
{
    public static Command Create()
    {
        var jobs = new Option<int>("--jobs") { Description = "Jobs to submit.", DefaultValueFactory = _ => 200 };
        var concurrency = new Option<int>("--concurrency") { Description = "Jobs in flight at once.", DefaultValueFactory = _ => 16 };
        var prompt = new Option<string>("--prompt") { Description = "The prompt of every job.", DefaultValueFactory = _ => "Where is Ganymede located in the solar system?" };
        var maxNewTokens = new Option<int>("--max-new-tokens") { Description = "max_new_tokens of every job.", DefaultValueFactory = _ => 32 };
        var spread = new Option<int>("--max-new-tokens-from")
        {
            Description = "Lengths that differ: job i gets max_new_tokens drawn from [this, --max-new-tokens] (seeded by i, so reruns match).",
        };
        var promptTokens = new Option<int>("--prompt-tokens")
        {
            Description = "Use a prompt of this many tokens instead of --prompt: 'the' repeated (one piece in T5's vocabulary) and </s>.",
        };
        var forced = new Option<bool>("--forced") { Description = "Force max_new_tokens new tokens (min_new_tokens = max_new_tokens)." };
        var mixed = new Option<int>("--mixed-prompts")
        {
            Description = "Mixed load: also submit one job of this many prompts before the single-prompt jobs; it is reported apart.",
        };
        var streams = new Option<int>("--streams")
        {
            Description = "Mixed load: also keep this many streamed completions (POST /api/completions, the jobs' prompt and parameters) running beside the jobs; reports their tokens/s.",
        };
        var poll = new Option<int>("--poll-ms")
        {
            Description = "Status poll interval per job, ms (instead of the Retry-After hint of an unfinished job; a 503's is followed).",
            DefaultValueFactory = _ => 200,
        };
        var url = JobCommands.UrlOption();
        var key = JobCommands.KeyOption();
        var timeout = JobCommands.TimeoutOption(900);
        var json = JobCommands.JsonOption("one summary object (jobs_per_minute, p50_ms, …) on stdout, the table on stderr");
        var command = new Command("bench", "Load benchmark: submit many jobs, print jobs/minute and p50/p95 job latency.")
        {
            jobs, concurrency, prompt, maxNewTokens, spread, promptTokens, forced, mixed, streams, poll, url, key, timeout, json,
        };
        command.SetAction((parse, ct) => JobCommands.Guard(async () =>
        {
            // Checked here, not in a validator: validators do not see default values.
            if (parse.GetValue(jobs) < 1 || parse.GetValue(concurrency) < 1) throw new ArgumentException("--jobs and --concurrency must be at least 1.");
            if (parse.GetValue(promptTokens) < 0 || parse.GetValue(mixed) < 0 || parse.GetValue(streams) < 0)
                throw new ArgumentException("--prompt-tokens, --mixed-prompts and --streams cannot be negative.");
            if (parse.GetValue(spread) is var from && from != 0 && (from < 1 || from > parse.GetValue(maxNewTokens)))
                throw new ArgumentException($"--max-new-tokens-from must be between 1 and --max-new-tokens ({parse.GetValue(maxNewTokens)}); got {from}.");
            // The table for people on stdout, or with --json the summary alone on stdout and the table on stderr.
            var human = parse.GetValue(json) ? Console.Error : Console.Out;
            using var client = JobCommands.Client(parse, url, key);
            var n = parse.GetValue(jobs);
            var text = parse.GetValue(promptTokens) is > 0 and var count ? PromptOfTokens(count) : parse.GetValue(prompt);
            var parameters = new JsonObject { ["max_new_tokens"] = parse.GetValue(maxNewTokens) };
            if (parse.GetValue(forced)) parameters["min_new_tokens"] = parse.GetValue(maxNewTokens);
            var spec = new JsonObject { ["prompt"] = text, ["parameters"] = parameters };
            var pollInterval = TimeSpan.FromMilliseconds(parse.GetValue(poll));
            var jobTimeout = TimeSpan.FromSeconds(parse.GetValue(timeout));
            var outcomes = new Outcome[n];
            human.WriteLine($"bench: {n} jobs, {parse.GetValue(concurrency)} in flight, against {parse.GetValue(url)}");

            var wall = Stopwatch.StartNew();
            // The streams run from the start until the last job has finished; their tokens count up to that moment.
            using var stopStreams = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var streamLoad = new StreamLoad();
            var streaming = Enumerable.Range(0, parse.GetValue(streams)).Select(_ => streamLoad.RunAsync(client, spec, stopStreams.Token)).ToArray();
            Task<Outcome>? big = null;
            if (parse.GetValue(mixed) is > 0 and var bigCount)
            {
                var bigSpec = new JsonObject { ["prompts"] = new JsonArray([.. Enumerable.Repeat(text, bigCount).Select(t => JsonValue.Create(t))]), ["parameters"] = parameters.DeepClone() };
                big = RunJobAsync(client, bigSpec, jobTimeout, pollInterval, ct);
                // Let it reach the worker first, so the single-prompt jobs arrive behind it.
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }
            await Parallel.ForEachAsync(Enumerable.Range(0, n),
                new ParallelOptions { MaxDegreeOfParallelism = parse.GetValue(concurrency), CancellationToken = ct },
                async (i, token) => outcomes[i] = await RunJobAsync(client, JobSpec(spec, i, parse.GetValue(spread), parse.GetValue(forced)), jobTimeout, pollInterval, token));
            var singlesWall = wall.Elapsed;
            var streamTokens = streamLoad.Tokens;
            var bigOutcome = big is null ? null : await big;
            await stopStreams.CancelAsync();
            await Task.WhenAll(streaming);
            wall.Stop();

            var succeeded = outcomes.Where(o => o.Status == "succeeded").ToArray();
            human.WriteLine($"finished: {succeeded.Length} succeeded, {outcomes.Count(o => o.Status == "failed")} failed, {outcomes.Count(o => o.Status == "error")} client errors in {wall.Elapsed.TotalSeconds:0.0} s");
            foreach (var error in outcomes.Where(o => o.Error is not null).Select(o => o.Error).Distinct().Take(3))
                human.WriteLine($"  error: {error}");
            human.WriteLine(F($"throughput: {succeeded.Length / singlesWall.TotalMinutes:0.0} jobs/minute"));
            var latencies = succeeded.Select(o => o.ClientLatency.TotalMilliseconds).Order().ToArray();
            var recorded = succeeded.Where(o => o.RecordedLatency is not null).Select(o => o.RecordedLatency!.Value.TotalMilliseconds).Order().ToArray();
            var queued = succeeded.Where(o => o.RecordedStart is not null).Select(o => o.RecordedStart!.Value.TotalMilliseconds).Order().ToArray();
            if (latencies.Length > 0)
                human.WriteLine(F($"latency (client, submit → seen done): p50 {Percentile(latencies, 50):0} ms, p95 {Percentile(latencies, 95):0} ms, max {latencies[^1]:0} ms"));
            if (recorded.Length > 0)
                human.WriteLine(F($"latency (recorded, created_at → completed_at): p50 {Percentile(recorded, 50):0} ms, p95 {Percentile(recorded, 95):0} ms, max {recorded[^1]:0} ms"));
            if (bigOutcome is not null)
                human.WriteLine(F($"mixed: the {parse.GetValue(mixed)}-prompt job {bigOutcome.Status} in {bigOutcome.ClientLatency.TotalMilliseconds:0} ms"));
            var jobTokens = succeeded.Sum(o => o.OutputTokens);
            if (streaming.Length > 0)
            {
                human.WriteLine(F($"streams: {streaming.Length} concurrent, {streamLoad.Completed} completed, {streamTokens} tokens, {streamTokens / singlesWall.TotalSeconds:0.0} tokens/s; jobs and streams together {(jobTokens + streamTokens) / singlesWall.TotalSeconds:0.0} tokens/s"));
                if (streamLoad.FirstError is { } streamError) human.WriteLine($"  stream error ({streamLoad.Errors} in all): {streamError}");
            }
            var summary = new JsonObject
            {
                ["mode"] = bigOutcome is null ? "single" : "mixed",
                ["jobs"] = n,
                ["succeeded"] = succeeded.Length,
                ["concurrency"] = parse.GetValue(concurrency),
                ["prompt_tokens"] = parse.GetValue(promptTokens) is > 0 and var pt ? pt : null,
                ["max_new_tokens"] = parse.GetValue(maxNewTokens),
                ["max_new_tokens_from"] = parse.GetValue(spread) is > 0 and var f ? f : null,
                ["forced"] = parse.GetValue(forced),
                ["wall_s"] = Math.Round(singlesWall.TotalSeconds, 3),
                ["jobs_per_minute"] = Math.Round(succeeded.Length / singlesWall.TotalMinutes, 2),
                ["p50_ms"] = latencies.Length > 0 ? Math.Round(Percentile(latencies, 50), 1) : null,
                ["p95_ms"] = latencies.Length > 0 ? Math.Round(Percentile(latencies, 95), 1) : null,
                // As the host recorded it (created_at → completed_at): free of the client's poll interval.
                ["recorded_p50_ms"] = recorded.Length > 0 ? Math.Round(Percentile(recorded, 50), 1) : null,
                ["recorded_p95_ms"] = recorded.Length > 0 ? Math.Round(Percentile(recorded, 95), 1) : null,
                // created_at → started_at: in the queue until a worker took the message (its polling and backlog).
                ["queued_p50_ms"] = queued.Length > 0 ? Math.Round(Percentile(queued, 50), 1) : null,
                ["queued_p95_ms"] = queued.Length > 0 ? Math.Round(Percentile(queued, 95), 1) : null,
                ["tokens_per_second"] = Math.Round(jobTokens / singlesWall.TotalSeconds, 2),
                // Jobs' and streams' tokens over the same wall time: the instance's whole output.
                ["aggregate_tokens_per_second"] = Math.Round((jobTokens + streamTokens) / singlesWall.TotalSeconds, 2),
            };
            if (streaming.Length > 0)
            {
                summary["streams"] = streaming.Length;
                summary["stream_completions"] = streamLoad.Completed;
                summary["stream_errors"] = streamLoad.Errors;
                summary["stream_tokens"] = streamTokens;
                summary["stream_tokens_per_second"] = Math.Round(streamTokens / singlesWall.TotalSeconds, 2);
            }
            if (bigOutcome is not null)
            {
                summary["mixed_prompts"] = parse.GetValue(mixed);
                summary["mixed_job_status"] = bigOutcome.Status;
                summary["mixed_job_ms"] = Math.Round(bigOutcome.ClientLatency.TotalMilliseconds, 1);
            }
            if (parse.GetValue(json)) Console.WriteLine(summary.ToJsonString());
            return succeeded.Length == n && bigOutcome is null or { Status: "succeeded" } && streamLoad.Errors == 0 ? 0 : 1;
        }));
        return command;
    }

    private static async Task<Outcome> RunJobAsync(JobClient client, JsonObject spec, TimeSpan timeout, TimeSpan poll, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var accepted = await client.SubmitAsync(spec, ct);
            var final = await client.WaitAsync(accepted.GetProperty("id").GetString()!, timeout, poll, ct, hintOnlyWhenBusy: true);
            var tokens = final.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object ? usage.GetProperty("output_tokens").GetInt32() : 0;
            return new Outcome(final.GetProperty("status").GetString()!, Stopwatch.GetElapsedTime(started), Recorded(final, "completed_at"), null, tokens,
                Recorded(final, "started_at"));
        }
        catch (Exception ex) when (ex is JobClientException or TimeoutException or HttpRequestException)
        {
            return new Outcome("error", Stopwatch.GetElapsedTime(started), null, ex.Message);
        }
    }

    /// <summary>Streamed completions run back to back by each of several loops: the tokens they received, how many ended.</summary>
    private sealed class StreamLoad
    {
        private long _tokens;
        private int _completed, _errors;

        public long Tokens => Interlocked.Read(ref _tokens);
        public int Completed => Volatile.Read(ref _completed);
        public int Errors => Volatile.Read(ref _errors);
        public string? FirstError { get; private set; }

        /// <summary>One stream after another with <paramref name="spec"/> until <paramref name="stop"/>.</summary>
        public async Task RunAsync(JobClient client, JsonObject spec, CancellationToken stop)
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await client.StreamCompletionAsync(spec, (_, _) => Interlocked.Increment(ref _tokens), stop);
                    Interlocked.Increment(ref _completed);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e) when (e is JobClientException or HttpRequestException or OperationCanceledException or JsonException)
                {
                    // Counted and reported; a pause so an unavailable host is not hammered.
                    if (Interlocked.Increment(ref _errors) == 1) FirstError = e.Message;
                    try { await Task.Delay(TimeSpan.FromMilliseconds(500), stop); } catch (OperationCanceledException) { return; }
                }
            }
        }
    }

    /// <summary>Job <paramref name="index"/>'s spec: with <paramref name="from"/> &gt; 0, its own max_new_tokens in [from, max].</summary>
    private static JsonObject JobSpec(JsonObject template, int index, int from, bool forced)
    {
        var spec = template.DeepClone().AsObject();
        if (from <= 0) return spec;
        var parameters = spec["parameters"]!.AsObject();
        var tokens = new Random(index).Next(from, parameters["max_new_tokens"]!.GetValue<int>() + 1);
        parameters["max_new_tokens"] = tokens;
        if (forced) parameters["min_new_tokens"] = tokens;
        return spec;
    }

    /// <summary>A prompt of <paramref name="tokens"/> tokens with T5's tokenizer: "the" is one piece, and the tokenizer adds &lt;/s&gt;.</summary>
    internal static string PromptOfTokens(int tokens) => string.Join(' ', Enumerable.Repeat("the", Math.Max(1, tokens - 1)));

    /// <summary>From the job's <c>created_at</c> to its <paramref name="field"/>, as the host recorded them.</summary>
    private static TimeSpan? Recorded(JsonElement job, string field) =>
        job.TryGetProperty("created_at", out var c) && job.TryGetProperty(field, out var d)
            && c.ValueKind == JsonValueKind.String && d.ValueKind == JsonValueKind.String
            ? d.GetDateTimeOffset() - c.GetDateTimeOffset() : null;

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    internal static double Percentile(double[] sorted, double p)
    {
        var rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <param name="RecordedStart">created_at → started_at: the time in the queue until a worker took the message.</param>
    private sealed record Outcome(string Status, TimeSpan ClientLatency, TimeSpan? RecordedLatency, string? Error, int OutputTokens = 0,
        TimeSpan? RecordedStart = null);
}
