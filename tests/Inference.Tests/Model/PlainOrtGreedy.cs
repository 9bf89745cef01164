using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Serverless.Inference.Tests.Model;

/// <summary>
/// The plainest greedy loop over an Optimum export, independent of the engine's code: ONNX Runtime sessions with default
/// options, <c>InferenceSession.Run</c> on named DenseTensors, the encoder, then <c>decoder_model.onnx</c> for the
/// first token and <c>decoder_with_past_model.onnx</c> for the rest, argmax over every logits row.
/// </summary>
public sealed class PlainOrtGreedy : IDisposable
{
    private readonly InferenceSession _encoder;
    private readonly InferenceSession _decoder;
    private readonly InferenceSession _withPast;

    public PlainOrtGreedy(string directory)
    {
        _encoder = new InferenceSession(Path.Combine(directory, "encoder_model.onnx"));
        _decoder = new InferenceSession(Path.Combine(directory, "decoder_model.onnx"));
        _withPast = new InferenceSession(Path.Combine(directory, "decoder_with_past_model.onnx"));
    }

    /// <summary>Greedy ids (ending at <c>&lt;/s&gt;</c> = 1 or after <paramref name="maxNewTokens"/>) and every step's logits.</summary>
    public (int[] Ids, List<float[]> Logits) Run(int[] inputIds, int maxNewTokens)
    {
        var n = inputIds.Length;
        var mask = new DenseTensor<long>(Enumerable.Repeat(1L, n).ToArray(), [1, n]);
        using var encoded = _encoder.Run(
        [
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(inputIds.Select(i => (long)i).ToArray(), [1, n])),
            NamedOnnxValue.CreateFromTensor("attention_mask", mask),
        ]);
        var hidden = encoded.Single(o => o.Name == "last_hidden_state").AsTensor<float>().Clone();

        var past = new Dictionary<string, Tensor<float>>();
        var ids = new List<int>();
        var logits = new List<float[]>();
        long next = 0; // T5's decoder start token
        for (var step = 0; step < maxNewTokens; step++)
        {
            var inputs = new List<NamedOnnxValue>
            {
                NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(new[] { next }, [1, 1])),
                NamedOnnxValue.CreateFromTensor("encoder_attention_mask", mask),
            };
            var session = step == 0 ? _decoder : _withPast;
            if (session.InputMetadata.ContainsKey("encoder_hidden_states"))
                inputs.Add(NamedOnnxValue.CreateFromTensor("encoder_hidden_states", hidden));
            foreach (var name in session.InputMetadata.Keys.Where(k => k.StartsWith("past_key_values.", StringComparison.Ordinal)))
                inputs.Add(NamedOnnxValue.CreateFromTensor(name, past["present." + name["past_key_values.".Length..]]));

            using var outputs = session.Run(inputs);
            foreach (var output in outputs.Where(o => o.Name.StartsWith("present.", StringComparison.Ordinal)))
                past[output.Name] = output.AsTensor<float>().Clone();
            var row = outputs.Single(o => o.Name == "logits").AsTensor<float>().ToArray();
            logits.Add(row);
            var best = 0;
            for (var v = 1; v < row.Length; v++)
            {
                if (row[v] > row[best])
                    best = v;
            }
            ids.Add(best);
            if (best == 1)
                break;
            next = best;
        }
        return (ids.ToArray(), logits);
    }

    public void Dispose()
    {
        _encoder.Dispose();
        _decoder.Dispose();
        _withPast.Dispose();
    }
}
