using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Serverless.Inference.Model;

/// <summary>
/// Checks that an ONNX graph has the inputs and outputs, in the Optimum naming, that <c>config.json</c> implies, so a
/// mismatched folder fails at load with a message instead of mid-request with a shape error from ONNX Runtime.
/// </summary>
internal static class GraphContract
{
    public enum DecoderKind { NoPast, WithPast, Merged }

    public static void CheckEncoder(InferenceSession session, string path, T5Config config)
    {
        var errors = new List<string>();
        RequireTensor(session.InputMetadata, "input", "input_ids", TensorElementType.Int64, [-1, -1], errors);
        RequireTensor(session.InputMetadata, "input", "attention_mask", TensorElementType.Int64, [-1, -1], errors);
        RequireTensor(session.OutputMetadata, "output", "last_hidden_state", TensorElementType.Float, [-1, -1, config.DModel], errors, ("d_model", 2));
        Throw(path, errors);
    }

    public static void CheckDecoder(InferenceSession session, string path, T5Config config, DecoderKind kind)
    {
        var errors = new List<string>();
        var inputs = session.InputMetadata;
        var outputs = session.OutputMetadata;
        RequireTensor(inputs, "input", "input_ids", TensorElementType.Int64, [-1, -1], errors);
        RequireTensor(inputs, "input", "encoder_attention_mask", TensorElementType.Int64, [-1, -1], errors);
        // The with-past decoder may drop encoder_hidden_states: with the cross-attention K/V cached it is unused.
        if (kind != DecoderKind.WithPast || inputs.ContainsKey("encoder_hidden_states"))
            RequireTensor(inputs, "input", "encoder_hidden_states", TensorElementType.Float, [-1, -1, config.DModel], errors, ("d_model", 2));
        if (kind == DecoderKind.Merged)
            RequireTensor(inputs, "input", "use_cache_branch", TensorElementType.Bool, [1], errors);
        // Optional (the project's own export): the decoder self-attention mask that lets rows join a running batch.
        if (inputs.ContainsKey(T5Model.DecoderMaskInput))
            RequireTensor(inputs, "input", T5Model.DecoderMaskInput, TensorElementType.Int64, [-1, -1], errors);
        RequireTensor(outputs, "output", "logits", TensorElementType.Float, [-1, -1, config.VocabSize], errors, ("vocab_size", 2));

        int[] kvShape = [-1, config.NumHeads, -1, config.DKv];
        (string, int)[] kvNames = [("num_heads", 1), ("d_kv", 3)];
        for (var i = 0; i < config.NumDecoderLayers; i++)
        {
            foreach (var part in new[] { "decoder.key", "decoder.value", "encoder.key", "encoder.value" })
            {
                if (kind != DecoderKind.NoPast)
                    RequireTensor(inputs, "input", $"past_key_values.{i}.{part}", TensorElementType.Float, kvShape, errors, kvNames);
                if (kind != DecoderKind.WithPast || part.StartsWith("decoder", StringComparison.Ordinal))
                    RequireTensor(outputs, "output", $"present.{i}.{part}", TensorElementType.Float, kvShape, errors, kvNames);
            }
        }
        var pastLayers = CountLayers(inputs.Keys, "past_key_values.");
        var presentLayers = CountLayers(outputs.Keys, "present.");
        if (pastLayers > config.NumDecoderLayers)
            errors.Add($"it has past_key_values for {pastLayers} layers but config.json num_decoder_layers = {config.NumDecoderLayers}");
        else if (presentLayers > config.NumDecoderLayers)
            errors.Add($"it has present outputs for {presentLayers} layers but config.json num_decoder_layers = {config.NumDecoderLayers}");
        Throw(path, errors);
    }

    private static int CountLayers(IEnumerable<string> names, string prefix)
    {
        var layers = 0;
        foreach (var name in names)
        {
            if (!name.StartsWith(prefix, StringComparison.Ordinal))
                continue;
            var end = name.IndexOf('.', prefix.Length);
            if (end > prefix.Length && int.TryParse(name.AsSpan(prefix.Length, end - prefix.Length), out var layer))
                layers = Math.Max(layers, layer + 1);
        }
        return layers;
    }

    private static void RequireTensor(IReadOnlyDictionary<string, NodeMetadata> nodes, string direction, string name,
        TensorElementType type, int[] shape, List<string> errors, params (string ConfigName, int Axis)[] configAxes)
    {
        if (!nodes.TryGetValue(name, out var node))
        {
            errors.Add($"it has no {direction} '{name}'");
            return;
        }
        if (!node.IsTensor || node.ElementDataType != type)
        {
            errors.Add($"{direction} '{name}' is {(node.IsTensor ? node.ElementDataType.ToString() : node.OnnxValueType.ToString())}, expected a {type} tensor");
            return;
        }
        var actual = node.Dimensions;
        if (actual.Length != shape.Length)
        {
            errors.Add($"{direction} '{name}' has rank {actual.Length}, expected {shape.Length}");
            return;
        }
        for (var axis = 0; axis < shape.Length; axis++)
        {
            // -1 (or 0 from some exporters) is a symbolic dimension: nothing to compare.
            if (shape[axis] < 0 || actual[axis] <= 0 || actual[axis] == shape[axis])
                continue;
            var what = configAxes.FirstOrDefault(c => c.Axis == axis).ConfigName;
            errors.Add(what is null
                ? $"{direction} '{name}' has {actual[axis]} in dimension {axis}, expected {shape[axis]}"
                : $"{direction} '{name}' has {actual[axis]} in dimension {axis} but config.json {what} = {shape[axis]}");
        }
    }

    private static void Throw(string path, List<string> errors)
    {
        if (errors.Count == 0)
            return;
        const int shown = 6;
        var list = string.Join("; ", errors.Take(shown)) + (errors.Count > shown ? $"; and {errors.Count - shown} more" : "");
        throw new ModelFormatException(
            $"{Path.GetFileName(path)} in '{Path.GetDirectoryName(path)}' does not match config.json: {list}. " +
            "Re-export the model or use the config.json it was exported with.");
    }
}
