using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Serverless.Inference.Generation;
using Serverless.Inference.Model;
using Serverless.Inference.Telemetry;

namespace Serverless.Cli.Commands;

/// <summary>
/// <c>serverless bench --telemetry-overhead</c>: what recording the engine's spans and metrics into an in-process
/// collector (<see cref="InMemoryTelemetry"/>) costs generation. Runs without and with the collector alternate in one
/// process (off on, on off, ...) on the same model and prompts, so that both see the same machine load; each pair gives
/// a ratio, and the median ratio is reported. Timed two ways: decode tokens/s (the engine's own decode clock, as
/// <c>bench</c> reports it) and wall tokens/s (the whole generate call, the per-batch recording included).
/// </summary>
internal static class TelemetryOverheadBench
{
    public static int Run(T5Model model, int[] sizes, int inLength, int newLength, int pairs, bool json)
    {
        var options = new GenerationOptions { MaxNewTokens = newLength, MinNewTokens = newLength, Truncation = Truncation.KeepEnd };
        var rows = new List<Row>();
        var spans = 0;
        foreach (var size in sizes)
        {
            var prompts = InferenceBench.Prompts(model, size, inLength);
            // Warm-up both ways: JIT, ONNX Runtime's first-run allocations, the SDK's first export.
            Measure(model, prompts, options, size, telemetry: false);
            Measure(model, prompts, options, size, telemetry: true);
            var off = new List<Measurement>();
            var on = new List<Measurement>();
            for (var pair = 0; pair < pairs; pair++)
            {
                foreach (var telemetry in pair % 2 == 0 ? new[] { false, true } : [true, false])
                {
                    var run = Measure(model, prompts, options, size, telemetry);
                    (telemetry ? on : off).Add(run);
                    spans += run.Spans;
                }
            }
            var recording = RecordingSeconds(model, prompts, options);
            rows.Add(new Row(size, recording, recording / Median(off.Select(r => r.WallSeconds)),
                Median(off.Select(r => r.DecodeTokensPerSecond)), Median(on.Select(r => r.DecodeTokensPerSecond)),
                Median(off.Zip(on, (a, b) => b.DecodeTokensPerSecond / a.DecodeTokensPerSecond)),
                Median(off.Select(r => r.WallTokensPerSecond)), Median(on.Select(r => r.WallTokensPerSecond)),
                Median(off.Zip(on, (a, b) => b.WallTokensPerSecond / a.WallTokensPerSecond)),
                Median(off.Select(r => r.AllocatedBytesPerToken)), Median(on.Select(r => r.AllocatedBytesPerToken)),
                [.. off.Zip(on, (a, b) => b.WallTokensPerSecond / a.WallTokensPerSecond)]));
        }

        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(rows.Select(r => new
            {
                batch = r.Batch,
                recording_us_per_batch = Math.Round(r.RecordingSeconds * 1e6, 2),
                recording_fraction_of_batch = r.RecordingFraction,
                decode_tokens_per_second_off = Math.Round(r.DecodeOff, 1),
                decode_tokens_per_second_on = Math.Round(r.DecodeOn, 1),
                decode_ratio = Math.Round(r.DecodeRatio, 4),
                wall_tokens_per_second_off = Math.Round(r.WallOff, 1),
                wall_tokens_per_second_on = Math.Round(r.WallOn, 1),
                wall_ratio = Math.Round(r.WallRatio, 4),
                wall_ratios = r.WallRatios.Select(x => Math.Round(x, 4)),
                allocated_bytes_per_token_off = Math.Round(r.AllocOff),
                allocated_bytes_per_token_on = Math.Round(r.AllocOn),
            })));
            return 0;
        }

        Console.WriteLine($"telemetry off vs on (in-memory collector), {inLength} input tokens, {newLength} new tokens, {pairs} alternating pairs (medians; ratio = on / off per pair)");
        foreach (var r in rows)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"batch {r.Batch,3}: recording {r.RecordingSeconds * 1e6:F1} µs per batch = {r.RecordingFraction:P4} of its wall time;  decode {r.DecodeOff,8:F1} / {r.DecodeOn,8:F1} tok/s (ratio {r.DecodeRatio:F4})  wall {r.WallOff,8:F1} / {r.WallOn,8:F1} tok/s (ratio {r.WallRatio:F4}; pairs {string.Join(' ', r.WallRatios.Select(x => x.ToString("F3", CultureInfo.InvariantCulture)))})  alloc {r.AllocOff:F0} / {r.AllocOn:F0} B/token"));
        }
        Console.WriteLine($"({spans} spans recorded in the runs with telemetry on)");
        return 0;
    }

    private static Measurement Measure(T5Model model, int[][] prompts, GenerationOptions options, int size, bool telemetry)
    {
        using var collector = telemetry ? new InMemoryTelemetry(quiet: true) : null;
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var results = model.Generate(prompts, options);
        var wall = clock.Elapsed.TotalSeconds;
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        var tokens = results.Sum(x => (long)x.OutputTokens);
        return new Measurement(tokens / results.Max(x => x.Timings.Decode.TotalSeconds), tokens / wall, wall, allocated / (double)tokens, collector?.SpanCount ?? 0);
    }

    /// <summary>
    /// What the engine's telemetry does per batch — <see cref="InferenceTelemetry.RecordBatch"/>, the only place it records,
    /// once per batch and never per token — timed on its own over many calls with the collector on: a figure the machine's
    /// load does not drown, unlike the difference of two generation timings.
    /// </summary>
    private static double RecordingSeconds(T5Model model, int[][] prompts, GenerationOptions options)
    {
        const int Calls = 2000;
        using var collector = new InMemoryTelemetry(quiet: true);
        var results = model.Generate(prompts, options).ToArray();
        for (var i = 0; i < 100; i++) InferenceTelemetry.RecordBatch(DateTime.UtcNow, results, beams: 1); // warm-up
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < Calls; i++) InferenceTelemetry.RecordBatch(DateTime.UtcNow, results, beams: 1);
        return clock.Elapsed.TotalSeconds / Calls;
    }

    private sealed record Measurement(double DecodeTokensPerSecond, double WallTokensPerSecond, double WallSeconds, double AllocatedBytesPerToken, int Spans);

    private sealed record Row(int Batch, double RecordingSeconds, double RecordingFraction, double DecodeOff, double DecodeOn, double DecodeRatio, double WallOff, double WallOn, double WallRatio,
        double AllocOff, double AllocOn, double[] WallRatios);

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
