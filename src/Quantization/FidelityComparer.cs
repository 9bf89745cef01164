using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Serverless.Inference.Generation;
using Serverless.Inference.Model;

namespace Serverless.Quantization;

/// <summary>
/// Measures a quantized export against its fp32 original on the same inputs (random weights have no accuracy, only
/// fidelity): the fp32 model's greedy continuations of varied prompts are teacher-forced through both decoders, one
/// full-sequence run each, and every step's logits are compared; then both generate greedily, and the quantized one
/// replays the committed greedy goldens.
/// </summary>
public static class FidelityComparer
{
    private static readonly string[] Texts =
    [
        "Where is Ganymede located in the solar system?",
        "translate English to German: How old are you?",
        "summarize: The city council met on Tuesday to discuss the new budget, which includes funds for parks and roads.",
        "Answer the question: what is the boiling point of water at sea level?",
        "Write a short poem about the sea.",
        "Is the following review positive or negative? The food was cold and the service was slow.",
        "translate English to French: The weather is nice today.",
        "Q: Can a dog drive a car? A:",
        "List three colours of the rainbow.",
        "Premise: A man is playing a guitar. Hypothesis: A person makes music. Does the premise entail the hypothesis?",
    ];

    public static FidelityReport Compare(string referenceDirectory, string candidateDirectory, FidelityOptions options, CancellationToken cancellationToken = default)
    {
        if (options.Prompts < 1 || options.StepsPerPrompt < 1)
            throw new ArgumentException("--prompts and --steps must be at least 1.");
        var modelOptions = new ModelOptions { IntraOpThreads = options.IntraOpThreads, MaxNewTokensCeiling = Math.Max(512, options.StepsPerPrompt) };
        using var reference = T5Model.Load(referenceDirectory, modelOptions);
        using var candidate = T5Model.Load(candidateDirectory, modelOptions with { UseQuantized = HasQuantizedFiles(candidateDirectory) });

        var prompts = MakePrompts(reference, options.Prompts);
        var forced = new GenerationOptions { MaxNewTokens = options.StepsPerPrompt, MinNewTokens = options.StepsPerPrompt };
        var referenceGreedy = reference.Generate(prompts, forced, cancellationToken);
        var candidateGreedy = candidate.Generate(prompts, forced, cancellationToken);

        using var referenceRunner = new TeacherForcedRunner(referenceDirectory, useQuantized: false, options.IntraOpThreads);
        using var candidateRunner = new TeacherForcedRunner(candidateDirectory, HasQuantizedFiles(candidateDirectory), options.IntraOpThreads);
        int steps = 0, agree = 0;
        double cosineSum = 0, cosineMin = 1;
        for (var p = 0; p < prompts.Length; p++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int[] target = [.. referenceGreedy[p].OutputIds];
            long[] decoderInput = [0, .. target[..^1].Select(t => (long)t)];
            var a = referenceRunner.Logits(prompts[p], decoderInput, out var vocab);
            var b = candidateRunner.Logits(prompts[p], decoderInput, out _);
            for (var s = 0; s < decoderInput.Length; s++)
            {
                ReadOnlySpan<float> x = a.AsSpan(s * vocab, vocab), y = b.AsSpan(s * vocab, vocab);
                if (ArgMax(x) == ArgMax(y))
                    agree++;
                var cosine = Cosine(x, y);
                cosineSum += cosine;
                cosineMin = Math.Min(cosineMin, cosine);
                steps++;
            }
        }

        var exact = 0;
        double prefix = 0;
        for (var p = 0; p < prompts.Length; p++)
        {
            IReadOnlyList<int> x = referenceGreedy[p].OutputIds, y = candidateGreedy[p].OutputIds;
            var same = 0;
            while (same < x.Count && same < y.Count && x[same] == y[same]) same++;
            if (same == x.Count && x.Count == y.Count) exact++;
            prefix += (double)same / Math.Max(1, x.Count);
        }

        (var goldenCases, var goldenExact) = options.GoldensPath is null ? (0, 0) : ReplayGoldens(candidate, options.GoldensPath, cancellationToken);
        return new FidelityReport(steps, (double)agree / steps, cosineSum / steps, cosineMin, prompts.Length, exact, prefix / prompts.Length, goldenCases, goldenExact);
    }

    /// <summary>True when the folder holds <c>encoder_model_quantized.onnx</c> (at the top or under onnx/).</summary>
    public static bool HasQuantizedFiles(string directory) =>
        File.Exists(Path.Combine(directory, "encoder_model_quantized.onnx")) || File.Exists(Path.Combine(directory, "onnx", "encoder_model_quantized.onnx"));

    private static int[][] MakePrompts(T5Model model, int count)
    {
        var prompts = new int[count][];
        var vocabulary = model.Tokenizer.VocabularySize;
        for (var i = 0; i < count; i++)
        {
            if (i < Texts.Length)
            {
                prompts[i] = model.Tokenizer.Encode(Texts[i], addEndOfSentence: true);
                continue;
            }
            // Random ids of varied lengths (4 to 96 tokens), different per prompt, ending with </s>.
            var random = new Random(7919 * i + 17);
            var length = 4 + random.Next(93);
            prompts[i] = [.. Enumerable.Range(0, length - 1).Select(_ => random.Next(3, vocabulary)), 1];
        }
        return prompts;
    }

    private static (int Cases, int Exact) ReplayGoldens(T5Model model, string path, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
            throw new QuantizationException($"The goldens file '{path}' does not exist.");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        if (!doc.RootElement.TryGetProperty("greedy", out var greedy))
            throw new QuantizationException($"'{path}' has no \"greedy\" cases.");
        int cases = 0, exact = 0;
        foreach (var c in greedy.EnumerateArray())
        {
            int[] input = [.. c.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32())];
            int[] expected = [.. c.GetProperty("output_ids").EnumerateArray().Select(e => e.GetInt32())];
            var options = new GenerationOptions { MaxNewTokens = c.GetProperty("max_new_tokens").GetInt32() };
            var result = model.Generate([input], options, cancellationToken)[0];
            cases++;
            if (result.OutputIds.SequenceEqual(expected))
                exact++;
        }
        return (cases, exact);
    }

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
                best = i;
        }
        return best;
    }

    private static double Cosine(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        double dot = 0, xx = 0, yy = 0;
        for (var i = 0; i < x.Length; i++)
        {
            dot += (double)x[i] * y[i];
            xx += (double)x[i] * x[i];
            yy += (double)y[i] * y[i];
        }
        return xx == 0 || yy == 0 ? (xx == yy ? 1 : 0) : dot / Math.Sqrt(xx * yy);
    }

    /// <summary>
    /// The encoder and the decoder without past (the merged decoder with <c>use_cache_branch</c> false and empty past)
    /// of one export, run over a whole decoder sequence at once: all steps' logits in one call.
    /// </summary>
    private sealed class TeacherForcedRunner : IDisposable
    {
        private readonly SessionOptions _options;
        private readonly InferenceSession _encoder;
        private readonly InferenceSession _decoder;
        private readonly RunOptions _run = new();

        public TeacherForcedRunner(string directory, bool useQuantized, int threads)
        {
            var suffix = useQuantized ? "_quantized" : "";
            string Find(params string[] names) =>
                names.SelectMany(n => new[] { Path.Combine(directory, n + suffix + ".onnx"), Path.Combine(directory, "onnx", n + suffix + ".onnx") })
                    .FirstOrDefault(File.Exists) ?? throw new QuantizationException($"'{directory}' has no {string.Join(" or ", names.Select(n => n + suffix + ".onnx"))}.");
            _options = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1 };
            _encoder = new InferenceSession(Find("encoder_model"), _options);
            _decoder = new InferenceSession(Find("decoder_model_merged", "decoder_model"), _options);
        }

        public float[] Logits(int[] prompt, long[] decoderInput, out int vocab)
        {
            long[] ids = [.. prompt.Select(t => (long)t)];
            long[] mask = [.. ids.Select(_ => 1L)];
            using var inputIds = OrtValue.CreateTensorValueFromMemory(ids, [1, ids.Length]);
            using var attention = OrtValue.CreateTensorValueFromMemory(mask, [1, mask.Length]);
            using var encoded = _encoder.Run(_run,
                new Dictionary<string, OrtValue> { ["input_ids"] = inputIds, ["attention_mask"] = attention }, ["last_hidden_state"]);

            var inputs = new Dictionary<string, OrtValue>();
            var owned = new List<OrtValue>();
            try
            {
                using var decoderIds = OrtValue.CreateTensorValueFromMemory(decoderInput, [1, decoderInput.Length]);
                foreach ((var name, var meta) in _decoder.InputMetadata)
                {
                    if (name == "input_ids")
                    {
                        inputs[name] = decoderIds;
                    }
                    else if (name == "encoder_attention_mask")
                    {
                        inputs[name] = attention;
                    }
                    else if (name == "encoder_hidden_states")
                    {
                        inputs[name] = encoded[0];
                    }
                    else if (name == "use_cache_branch")
                    {
                        var value = OrtValue.CreateTensorValueFromMemory(new[] { false }, [1]);
                        owned.Add(value);
                        inputs[name] = value;
                    }
                    else if (name.StartsWith("past_key_values.", StringComparison.Ordinal))
                    {
                        // [batch, heads, 0, d_kv]: the merged decoder's first step takes empty past tensors.
                        long[] shape = [1, meta.Dimensions[1], 0, meta.Dimensions[3]];
                        var value = OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), shape);
                        owned.Add(value);
                        inputs[name] = value;
                    }
                    else
                    {
                        throw new QuantizationException($"The decoder has an input '{name}' the comparison does not know how to fill.");
                    }
                }
                using var outputs = _decoder.Run(_run, inputs, ["logits"]);
                var dims = outputs[0].GetTensorTypeAndShape().Shape;
                vocab = (int)dims[^1];
                return outputs[0].GetTensorDataAsSpan<float>().ToArray();
            }
            finally
            {
                foreach (var v in owned) v.Dispose();
            }
        }

        public void Dispose()
        {
            _encoder.Dispose();
            _decoder.Dispose();
            _run.Dispose();
            _options.Dispose();
        }
    }
}
