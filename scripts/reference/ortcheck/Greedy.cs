// `ortcheck greedy MODEL_DIR GOLDENS.json`: replays every batch-1 greedy golden with ONNX Runtime, once through
// decoder_model_merged.onnx and once through decoder_model.onnx + decoder_with_past_model.onnx, and reports any
// case whose ids differ. An independent end-to-end check of the graphs against the torch goldens. Graphs of the
// decoder_attention_mask variant (scripts/reference/export_onnx.py) are fed an all-ones mask (batch 1: no padding).
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

static class Greedy
{
    public static int Run(string dir, string goldensPath)
    {
        JsonElement root = JsonDocument.Parse(File.ReadAllText(goldensPath)).RootElement;
        using var encoder = new InferenceSession(Path.Combine(dir, "encoder_model.onnx"));
        using var merged = new InferenceSession(Path.Combine(dir, "decoder_model_merged.onnx"));
        using var first = new InferenceSession(Path.Combine(dir, "decoder_model.onnx"));
        using var withPast = new InferenceSession(Path.Combine(dir, "decoder_with_past_model.onnx"));
        int layers = first.OutputMetadata.Keys.Count(k => k.EndsWith(".decoder.key"));
        int failures = 0, total = 0;
        foreach (JsonElement c in root.GetProperty("greedy").EnumerateArray())
        {
            long[] input = c.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            int[] expected = c.GetProperty("output_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            int maxNew = c.GetProperty("max_new_tokens").GetInt32();
            foreach (bool useMerged in new[] { true, false })
            {
                total++;
                int[] got = Decode(encoder, useMerged ? merged : null, first, withPast, layers, input, maxNew);
                if (!got.SequenceEqual(expected))
                {
                    failures++;
                    Console.WriteLine($"MISMATCH ({(useMerged ? "merged" : "split")}) [{string.Join(',', input)}]: expected [{string.Join(',', expected)}] got [{string.Join(',', got)}]");
                }
            }
        }
        Console.WriteLine($"greedy goldens through ONNX Runtime: {total - failures}/{total} runs match");
        return failures == 0 ? 0 : 1;
    }

    static int[] Decode(InferenceSession encoder, InferenceSession? merged, InferenceSession first, InferenceSession withPast,
        int layers, long[] input, int maxNew)
    {
        int n = input.Length;
        var ids = new DenseTensor<long>(input, [1, n]);
        var mask = new DenseTensor<long>(Enumerable.Repeat(1L, n).ToArray(), [1, n]);
        using var enc = encoder.Run([NamedOnnxValue.CreateFromTensor("input_ids", ids), NamedOnnxValue.CreateFromTensor("attention_mask", mask)]);
        Tensor<float> hidden = enc.First().AsTensor<float>().Clone();
        var past = new Dictionary<string, Tensor<float>>();
        var output = new List<int>();
        long next = 0; // decoder start token
        for (int step = 0; step < maxNew; step++)
        {
            var inputs = new List<NamedOnnxValue>
            {
                NamedOnnxValue.CreateFromTensor("encoder_attention_mask", mask),
                NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(new[] { next }, [1, 1])),
            };
            InferenceSession session;
            // past (step tokens) + the new one; no-cache merged step: just the new one
            InferenceSession maskedSession = merged ?? withPast;
            if (maskedSession.InputMetadata.ContainsKey("decoder_attention_mask") && (merged is not null || step > 0))
                inputs.Add(NamedOnnxValue.CreateFromTensor("decoder_attention_mask", new DenseTensor<long>(Enumerable.Repeat(1L, step + 1).ToArray(), [1, step + 1])));
            if (merged is not null)
            {
                session = merged;
                inputs.Add(NamedOnnxValue.CreateFromTensor("encoder_hidden_states", hidden));
                for (int i = 0; i < layers; i++)
                    foreach (string kind in new[] { "decoder.key", "decoder.value", "encoder.key", "encoder.value" })
                    {
                        string name = $"past_key_values.{i}.{kind}";
                        Tensor<float> t = step == 0 ? new DenseTensor<float>(new[] { 1, GetHeads(merged), 0, GetDkv(merged) }) : past[$"present.{i}.{kind}"];
                        inputs.Add(NamedOnnxValue.CreateFromTensor(name, t));
                    }
                inputs.Add(NamedOnnxValue.CreateFromTensor("use_cache_branch", new DenseTensor<bool>(new[] { step > 0 }, [1])));
            }
            else if (step == 0)
            {
                session = first;
                inputs.Add(NamedOnnxValue.CreateFromTensor("encoder_hidden_states", hidden));
            }
            else
            {
                session = withPast;
                for (int i = 0; i < layers; i++)
                    foreach (string kind in new[] { "decoder.key", "decoder.value", "encoder.key", "encoder.value" })
                        inputs.Add(NamedOnnxValue.CreateFromTensor($"past_key_values.{i}.{kind}", past[$"present.{i}.{kind}"]));
            }
            using var outs = session.Run(inputs);
            foreach (var o in outs)
                if (o.Name.StartsWith("present.")) past[o.Name] = o.AsTensor<float>().Clone();
            Tensor<float> logits = outs.First(o => o.Name == "logits").AsTensor<float>();
            int vocab = (int)logits.Dimensions[2];
            int best = 0;
            for (int v = 1; v < vocab; v++)
                if (logits[0, 0, v] > logits[0, 0, best]) best = v;
            output.Add(best);
            if (best == 1) break;
            next = best;
        }
        return output.ToArray();
    }

    static int GetHeads(InferenceSession s) => s.InputMetadata["past_key_values.0.decoder.key"].Dimensions[1];
    static int GetDkv(InferenceSession s) => s.InputMetadata["past_key_values.0.decoder.key"].Dimensions[3];
}
