using System.Text.Json;
using Serverless.Inference.Generation;
using Serverless.Inference.Model;
using Xunit.Abstractions;

namespace Serverless.Inference.Tests.Model;

/// <summary>
/// The scores the engine's greedy loop chooses from, step by step, against a plain ONNX Runtime loop over the same files
/// (<see cref="PlainOrtGreedy"/>): equal within 1e-5 at every step of every greedy golden, with the merged and the split
/// decoder, on the demo model and on the one whose logits have rows beyond the tokenizer's pieces, as flan-T5's do.
/// </summary>
[Collection(TinyModelCollection.Name)]
public sealed class PlainLoopParityTests(TinyModels tiny, PaddedTinyModels padded, ITestOutputHelper output)
{
    private const float Tolerance = 1e-5f;

    public static TheoryData<string, string> Cases => new()
    {
        { "demo", "merged" },
        { "demo", "split" },
        { "padded", "merged" },
        { "padded", "split" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Greedy_scores_equal_a_plain_onnx_runtime_loop_at_every_step(string modelName, string layout)
    {
        (var model, var directory, var goldens) = modelName == "demo"
            ? (tiny.Get(layout), TinyModels.ModelDirectory, TinyModels.Goldens())
            : (padded.Get(layout), PaddedTinyModels.ModelDirectory, PaddedTinyModels.Goldens());
        using var plain = new PlainOrtGreedy(directory);

        var cases = new List<(string Name, int[][] Inputs, int MaxNewTokens)>();
        foreach (var c in goldens.GetProperty("greedy").EnumerateArray())
            cases.Add(($"[{string.Join(',', TinyModels.Ints(c.GetProperty("input_ids")))}]", [TinyModels.Ints(c.GetProperty("input_ids"))], c.GetProperty("max_new_tokens").GetInt32()));
        var batch = goldens.GetProperty("greedy_batch");
        cases.Add(("the padded batch", batch.GetProperty("input_ids").EnumerateArray().Select(TinyModels.Ints).ToArray(), batch.GetProperty("max_new_tokens").GetInt32()));
        Assert.True(cases.Count >= 10, "expected at least 10 greedy goldens");

        var failures = new List<string>();
        var steps = 0;
        foreach (var (name, inputs, maxNew) in cases)
        {
            var recorder = new ScoreRecorder();
            var results = Generator.Generate(model, PromptSource.FromIds(inputs),
                new GenerationOptions { MaxNewTokens = maxNew }, null, default, recorder);
            double worst = 0;
            for (var row = 0; row < inputs.Length; row++)
            {
                (var ids, var logits) = plain.Run(inputs[row], maxNew);
                var scores = recorder.Rows.GetValueOrDefault(row) ?? [];
                if (!results[row].OutputIds.SequenceEqual(ids))
                    failures.Add($"{name} row {row}: plain loop [{string.Join(',', ids)}], engine [{string.Join(',', results[row].OutputIds)}]");
                if (scores.Count != logits.Count)
                    failures.Add($"{name} row {row}: plain loop ran {logits.Count} steps, engine {scores.Count}");
                for (var step = 0; step < Math.Min(scores.Count, logits.Count); step++)
                {
                    Assert.Equal(logits[step].Length, scores[step].Length);
                    for (var v = 0; v < logits[step].Length; v++)
                    {
                        // -infinity against a finite logit (a masked row) counts as an infinite difference.
                        var difference = Math.Abs((double)scores[step][v] - logits[step][v]);
                        if (double.IsNaN(difference))
                            difference = double.PositiveInfinity;
                        if (difference > worst)
                            worst = difference;
                        if (difference > Tolerance)
                        {
                            failures.Add($"{name} row {row} step {step}: id {v} plain {logits[step][v]} engine {scores[step][v]}");
                            break;
                        }
                    }
                    steps++;
                }
            }
            output.WriteLine($"{modelName} {layout} {name}: max |engine - plain| = {worst:E2}");
        }
        Assert.True(steps > 100, $"only {steps} steps compared");
        Assert.True(failures.Count == 0, $"{failures.Count} differences:\n" + string.Join("\n", failures.Take(20)));
    }

    private sealed class ScoreRecorder : IScoreObserver
    {
        public Dictionary<int, List<float[]>> Rows { get; } = [];

        public void OnScores(int row, int step, ReadOnlySpan<float> scores)
        {
            if (!Rows.TryGetValue(row, out var list))
                Rows[row] = list = [];
            Assert.Equal(list.Count, step);
            list.Add(scores.ToArray());
        }
    }
}
