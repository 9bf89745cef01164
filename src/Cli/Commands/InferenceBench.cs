using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Serverless.Inference.Generation;
using Serverless.Inference.Model;

namespace Serverless.Cli.Commands;

/// <summary>
/// <c>serverless bench</c>: decode throughput of the local model per batch size. A benchmark program, not a test:
/// it prints figures. Every row is forced to generate exactly --new-tokens tokens (EOS is masked by
/// min_new_tokens), after one warm-up run per batch size. With <c>--compare DIR</c> a second export (its quantized graphs
/// when it has them, e.g. the merged decoder alone otherwise) is loaded beside the first and their runs alternate
/// (A B, B A, ...), so that both see the same machine load: on a shared machine this is what makes their ratio meaningful.
/// </summary>
internal static class InferenceBench
{
    public static Command Create()
    {
        var model = InferenceCommands.ModelOption();
        var batch = new Option<string[]>("--batch") { Description = "Batch sizes (repeatable or comma-separated, e.g. 1,8).", DefaultValueFactory = _ => ["1"] };
        var inputTokens = new Option<int>("--input-tokens") { Description = "Prompt length in tokens, </s> included.", DefaultValueFactory = _ => 64 };
        var newTokens = new Option<int>("--new-tokens") { Description = "Tokens generated per row.", DefaultValueFactory = _ => 64 };
        var runs = new Option<int>("--runs") { Description = "Measured runs per batch size (the median is reported).", DefaultValueFactory = _ => 3 };
        var threads = InferenceCommands.ThreadsOption();
        var quantized = InferenceCommands.QuantizedOption();
        var compare = new Option<string>("--compare")
        {
            Description = "A second export measured in the same process, its runs alternating with --model's: its *_quantized.onnx graphs when it "
                + "has them, else its fp32 ones (e.g. a copy with only the merged decoder); prints the speed-up per batch size.",
        };
        var json = new Option<bool>("--json") { Description = "Print a JSON array, one object per batch size (and model)." };
        var telemetry = new Option<bool>("--telemetry")
        {
            Description = "Record the engine's spans and metrics into an in-process (in-memory) exporter while measuring: its overhead.",
        };
        var telemetryOverhead = new Option<bool>("--telemetry-overhead")
        {
            Description = "Alternate runs without and with an in-memory telemetry collector in one process (--runs pairs) and print the on/off tokens/s ratios.",
        };
        var command = new Command("bench", "Measure the local model's decode throughput, latency, allocations and memory per batch size.")
        {
            model, batch, inputTokens, newTokens, runs, threads, quantized, compare, json, telemetry, telemetryOverhead,
        };
        // Under the guard: a model that does not load is one line, its reason without the exception's type name.
        command.SetAction((parse, _) => CommandGuard.RunAsync(() => Task.FromResult(Body(parse))));
        return command;

        int Body(ParseResult parse)
        {
            if (parse.GetValue(inputTokens) < 1 || parse.GetValue(newTokens) < 1 || parse.GetValue(runs) < 1)
            {
                return CliExit.UsageError("--input-tokens, --new-tokens and --runs must be at least 1.");
            }
            int[] sizes;
            try
            {
                sizes = (parse.GetValue(batch) ?? ["1"])
                    .SelectMany(s => s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                    .Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
                if (sizes.Any(s => s < 1))
                    throw new FormatException();
            }
            catch (FormatException)
            {
                return CliExit.UsageError("--batch takes positive integers, e.g. --batch 1,8.");
            }
            if (parse.GetValue(telemetryOverhead) && (parse.GetValue(compare) is not null || parse.GetValue(telemetry)))
            {
                return CliExit.UsageError("--telemetry-overhead runs with and without telemetry itself; it takes neither --compare nor --telemetry.");
            }
            int inLength = parse.GetValue(inputTokens), newLength = parse.GetValue(newTokens), runCount = parse.GetValue(runs);
            var modelOptions = new ModelOptions
            {
                IntraOpThreads = parse.GetValue(threads),
                UseQuantized = QuantizedFolder.Use(parse.GetValue(model)!, parse.GetValue(quantized)),
                MaxBatchRows = Math.Max(32, sizes.Max()),
                MaxNewTokensCeiling = Math.Max(512, newLength),
            };
            var subjects = new List<(string Name, T5Model Model)>();
            try
            {
                subjects.Add((parse.GetValue(model)!, T5Model.Load(parse.GetValue(model)!, modelOptions)));
                if (parse.GetValue(compare) is { } other)
                    subjects.Add((other, T5Model.Load(other, modelOptions with { UseQuantized = HasQuantizedGraphs(other) })));
                if (parse.GetValue(telemetryOverhead))
                    return TelemetryOverheadBench.Run(subjects[0].Model, sizes, inLength, newLength, runCount, parse.GetValue(json));
                using var collector = parse.GetValue(telemetry) ? new InMemoryTelemetry() : null;
                return Run(subjects, sizes, inLength, newLength, runCount, parse.GetValue(json));
            }
            finally
            {
                foreach ((_, var m) in subjects)
                    m.Dispose();
            }
        }
    }

    private static bool HasQuantizedGraphs(string directory) =>
        Directory.Exists(directory) && Directory.EnumerateFiles(directory, "*_quantized.onnx", SearchOption.AllDirectories).Any();

    private static int Run(List<(string Name, T5Model Model)> subjects, int[] sizes, int inLength, int newLength, int runCount, bool json)
    {
        var options = new GenerationOptions { MaxNewTokens = newLength, MinNewTokens = newLength, Truncation = Truncation.KeepEnd };
        var figures = subjects.Select(_ => new List<Figures>()).ToArray();
        var speedUps = new List<double>();
        foreach (var size in sizes)
        {
            var prompts = Prompts(subjects[0].Model, size, inLength);
            foreach ((_, var m) in subjects)
                m.Generate(prompts, options); // warm-up: first-run allocations of ONNX Runtime and the JIT

            var measured = subjects.Select(_ => new List<Figures>()).ToArray();
            var ratios = new List<double>();
            for (var run = 0; run < runCount; run++)
            {
                // Alternate the order so neither model always runs right after the other.
                int[] order = run % 2 == 0 ? [.. Enumerable.Range(0, subjects.Count)] : [.. Enumerable.Range(0, subjects.Count).Reverse()];
                foreach (var i in order)
                    measured[i].Add(Measure(subjects[i].Model, prompts, options, size));
                if (subjects.Count == 2)
                    ratios.Add(measured[1][^1].TokensPerSecond / measured[0][^1].TokensPerSecond);
            }
            for (var i = 0; i < subjects.Count; i++)
            {
                var median = measured[i].OrderBy(f => f.TokensPerSecond).ElementAt(measured[i].Count / 2);
                figures[i].Add(median with
                {
                    TimeToFirstTokenMs = Median(measured[i].Select(f => f.TimeToFirstTokenMs)),
                    OutsideRunFraction = Median(measured[i].Select(f => f.OutsideRunFraction)),
                    AllocatedBytesPerToken = Median(measured[i].Select(f => f.AllocatedBytesPerToken)),
                    PeakRssMb = PeakRssMb(),
                });
            }
            if (ratios.Count > 0)
                speedUps.Add(Median(ratios));
        }

        if (json)
        {
            using var stdout = Console.OpenStandardOutput();
            using (var w = new Utf8JsonWriter(stdout, InferenceCommands.JsonOptions))
            {
                w.WriteStartArray();
                for (var i = 0; i < subjects.Count; i++)
                {
                    for (var b = 0; b < figures[i].Count; b++)
                    {
                        var f = figures[i][b];
                        w.WriteStartObject();
                        if (subjects.Count > 1)
                            w.WriteString("model", subjects[i].Name);
                        w.WriteNumber("batch", f.Batch);
                        w.WriteNumber("tokens_per_second", Math.Round(f.TokensPerSecond, 1));
                        if (i == 1)
                            w.WriteNumber("speed_up", Math.Round(speedUps[b], 3));
                        w.WriteNumber("time_to_first_token_ms", Math.Round(f.TimeToFirstTokenMs, 2));
                        w.WriteNumber("outside_run_fraction", Math.Round(f.OutsideRunFraction, 4));
                        w.WriteNumber("allocated_bytes_per_token", Math.Round(f.AllocatedBytesPerToken));
                        w.WriteNumber("peak_rss_mb", Math.Round(f.PeakRssMb, 1));
                        w.WriteEndObject();
                    }
                }
                w.WriteEndArray();
            }
            stdout.WriteByte((byte)'\n');
            return 0;
        }

        for (var i = 0; i < subjects.Count; i++)
        {
            var m = subjects[i].Model;
            Console.WriteLine($"model {subjects[i].Name} ({(m.IsMerged ? "merged" : "split")} decoder{(m.Options.UseQuantized ? ", quantized" : "")}), {inLength} input tokens, {newLength} new tokens, {runCount} runs (median)");
            for (var b = 0; b < figures[i].Count; b++)
            {
                var f = figures[i][b];
                var speedUp = i == 1 ? string.Create(CultureInfo.InvariantCulture, $"  {speedUps[b]:F2}x the first model (median of per-run ratios)") : "";
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"batch {f.Batch,3}: {f.TokensPerSecond,8:F1} tok/s  first token {f.TimeToFirstTokenMs,8:F2} ms  outside Run {f.OutsideRunFraction:P2}  {f.AllocatedBytesPerToken,8:F0} B/token  peak RSS {f.PeakRssMb:F1} MB{speedUp}"));
            }
        }
        if (subjects.Count > 1)
            Console.WriteLine("(both models are loaded in one process: peak RSS is their sum)");
        return 0;
    }

    /// <summary>Deterministic pseudo-random prompts, different per row, ending with &lt;/s&gt;.</summary>
    internal static int[][] Prompts(T5Model model, int size, int inLength)
    {
        var prompts = new int[size][];
        for (var r = 0; r < size; r++)
        {
            var random = new Random(1000 + r);
            prompts[r] = [.. Enumerable.Range(0, inLength - 1).Select(_ => random.Next(3, Math.Min(32000, model.Tokenizer.VocabularySize))), 1];
        }
        return prompts;
    }

    private static Figures Measure(T5Model model, int[][] prompts, GenerationOptions options, int size)
    {
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var results = model.Generate(prompts, options);
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        var t = results[0].Timings;
        var tokens = results.Sum(x => (long)x.OutputTokens);
        var decodeSeconds = results.Max(x => x.Timings.Decode.TotalSeconds);
        return new Figures(size, tokens / decodeSeconds, t.FirstToken.TotalMilliseconds,
            1 - t.InsideRun.TotalSeconds / results.Max(x => x.Timings.Total.TotalSeconds),
            allocated / (double)tokens, 0);
    }

    private sealed record Figures(int Batch, double TokensPerSecond, double TimeToFirstTokenMs, double OutsideRunFraction,
        double AllocatedBytesPerToken, double PeakRssMb);

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    /// <summary>The process's peak resident set (VmHWM) in MB; 0 where /proc is not available.</summary>
    private static double PeakRssMb()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) / 1024.0;
            }
        }
        catch (IOException)
        {
        }
        return 0;
    }
}
