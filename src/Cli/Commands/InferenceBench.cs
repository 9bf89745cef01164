using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Serverless.Inference.Generation;
using Serverless.Inference.Model;

namespace Serverless.Cli.Commands;

/// <summary>
/// <c>serverless bench</c>: decode throughput of the local model per batch size. A benchmark program, not a test:
/// it prints figures. Every row is forced to generate exactly --new-tokens tokens (EOS is masked by
/// min_new_tokens), after one warm-up run per batch size.
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
        var json = new Option<bool>("--json") { Description = "Print a JSON array, one object per batch size." };
        var command = new Command("bench", "Measure the local model's decode throughput, latency, allocations and memory per batch size.")
        {
            model, batch, inputTokens, newTokens, runs, threads, json,
        };
        command.SetAction(parse =>
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
            int inLength = parse.GetValue(inputTokens), newLength = parse.GetValue(newTokens), runCount = parse.GetValue(runs);
            using T5Model loaded = T5Model.Load(parse.GetValue(model)!, new ModelOptions
            {
                IntraOpThreads = parse.GetValue(threads),
                MaxBatchRows = Math.Max(32, sizes.Max()),
                MaxNewTokensCeiling = Math.Max(512, newLength),
            });
            var options = new GenerationOptions { MaxNewTokens = newLength, MinNewTokens = newLength, Truncation = Truncation.KeepEnd };

            var figures = new List<Figures>();
            foreach (int size in sizes)
            {
                var prompts = new int[size][];
                for (int r = 0; r < size; r++)
                {
                    // Deterministic pseudo-random prompts, different per row, ending with </s>.
                    var random = new Random(1000 + r);
                    prompts[r] = [.. Enumerable.Range(0, inLength - 1).Select(_ => random.Next(3, Math.Min(32000, loaded.Tokenizer.VocabularySize))), 1];
                }
                loaded.Generate(prompts, options); // warm-up: first-run allocations of ONNX Runtime and the JIT

                var measured = new List<Figures>();
                for (int run = 0; run < runCount; run++)
                {
                    long allocated = GC.GetAllocatedBytesForCurrentThread();
                    IReadOnlyList<GenerationResult> results = loaded.Generate(prompts, options);
                    allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
                    GenerationTimings t = results[0].Timings;
                    long tokens = results.Sum(x => (long)x.OutputTokens);
                    double decodeSeconds = results.Max(x => x.Timings.Decode.TotalSeconds);
                    measured.Add(new Figures(size, tokens / decodeSeconds, t.FirstToken.TotalMilliseconds,
                        1 - t.InsideRun.TotalSeconds / results.Max(x => x.Timings.Total.TotalSeconds),
                        allocated / (double)tokens, 0));
                }
                Figures median = measured.OrderBy(f => f.TokensPerSecond).ElementAt(measured.Count / 2);
                figures.Add(median with
                {
                    TimeToFirstTokenMs = Median(measured.Select(f => f.TimeToFirstTokenMs)),
                    OutsideRunFraction = Median(measured.Select(f => f.OutsideRunFraction)),
                    AllocatedBytesPerToken = Median(measured.Select(f => f.AllocatedBytesPerToken)),
                    PeakRssMb = PeakRssMb(),
                });
            }

            if (parse.GetValue(json))
            {
                using var stdout = Console.OpenStandardOutput();
                using (var w = new Utf8JsonWriter(stdout, InferenceCommands.JsonOptions))
                {
                    w.WriteStartArray();
                    foreach (Figures f in figures)
                    {
                        w.WriteStartObject();
                        w.WriteNumber("batch", f.Batch);
                        w.WriteNumber("tokens_per_second", Math.Round(f.TokensPerSecond, 1));
                        w.WriteNumber("time_to_first_token_ms", Math.Round(f.TimeToFirstTokenMs, 2));
                        w.WriteNumber("outside_run_fraction", Math.Round(f.OutsideRunFraction, 4));
                        w.WriteNumber("allocated_bytes_per_token", Math.Round(f.AllocatedBytesPerToken));
                        w.WriteNumber("peak_rss_mb", Math.Round(f.PeakRssMb, 1));
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                }
                stdout.WriteByte((byte)'\n');
            }
            else
            {
                Console.WriteLine($"model {parse.GetValue(model)} ({(loaded.IsMerged ? "merged" : "split")} decoder), {inLength} input tokens, {newLength} new tokens, {runCount} runs (median)");
                foreach (Figures f in figures)
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"batch {f.Batch,3}: {f.TokensPerSecond,8:F1} tok/s  first token {f.TimeToFirstTokenMs,8:F2} ms  outside Run {f.OutsideRunFraction:P2}  {f.AllocatedBytesPerToken,8:F0} B/token  peak RSS {f.PeakRssMb:F1} MB"));
                }
            }
            return 0;
        });
        return command;
    }

    private sealed record Figures(int Batch, double TokensPerSecond, double TimeToFirstTokenMs, double OutsideRunFraction,
        double AllocatedBytesPerToken, double PeakRssMb);

    private static double Median(IEnumerable<double> values)
    {
        double[] sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    /// <summary>The process's peak resident set (VmHWM) in MB; 0 where /proc is not available.</summary>
    private static double PeakRssMb()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
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
