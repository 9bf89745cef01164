using System.Globalization;
using Google.Protobuf;
using Onnx;
using Serverless.Inference.Onnx;

namespace Serverless.Inference.Model;

/// <summary>
/// Adds the decoder self-attention mask of the project's own export (<c>scripts/reference/export_onnx.py</c>,
/// <c>decoder_attention_mask</c>) to a stock Optimum with-past T5 decoder, so that rows can join a running batch.
/// </summary>
/// <remarks>
/// <para>
/// The Python export computes <c>padding = (1 - mask[:, None, None, :]) * float.MinValue</c> and adds
/// <c>min(causal, padding)</c> to the relative position bias that every self-attention layer adds to its Q·Kᵀ scores
/// before the softmax. This rewrite finds that bias in the graph (the operand, other than the Q·Kᵀ MatMul, of the Add in
/// front of each self-attention Softmax; the self-attention is the one whose keys concatenate
/// <c>past_key_values.{i}.decoder.key</c>) and adds <c>padding</c>, computed with the same operators (Cast to float, Sub
/// from 1, Mul by float.MinValue, Unsqueeze to [batch, 1, 1, past + 1]), once per distinct bias tensor, right before the
/// first Add that reads it. A with-past step has one query, which sees every key, so the stock graph's causal term is
/// zero there: <c>(bias + 0) + padding</c> here equals the Python export's <c>bias + min(0, padding)</c> bit for bit.
/// </para>
/// <para>
/// The merged decoder gets the input at the top (after <c>input_ids</c>, where the Python merge puts it) and only its
/// with-past branch reads it. Anything the rewrite does not recognise is left alone and reported.
/// </para>
/// </remarks>
internal static class DecoderMaskGraph
{
    private const string Prefix = "decoder_attention_mask/";

    /// <summary>What a rewrite did.</summary>
    public enum Outcome
    {
        /// <summary>The mask input was added.</summary>
        Added,

        /// <summary>The graph takes <see cref="T5Model.DecoderMaskInput"/> already (the project's own export); unchanged.</summary>
        AlreadyTakesMask,

        /// <summary>The graph is not one the rewrite knows; unchanged, and <c>Reason</c> says why.</summary>
        NotRecognised,
    }

    /// <summary>Rewrites <paramref name="model"/> in place; on anything but <see cref="Outcome.Added"/> it is unchanged.</summary>
    public static (Outcome Outcome, string? Reason) TryAddMask(ModelProto model)
    {
        var top = model.Graph;
        if (top is null)
            return (Outcome.NotRecognised, "the model has no graph");
        if (top.Input.Any(i => i.Name == T5Model.DecoderMaskInput))
            return (Outcome.AlreadyTakesMask, null);

        var pastKeys = top.Input.Where(i => IsPastDecoderKey(i.Name)).ToList();
        if (pastKeys.Count == 0)
            return (Outcome.NotRecognised, "it has no past_key_values.{i}.decoder.key input (not a with-past decoder)");
        if (pastKeys.Any(k => k.Type?.TensorType?.ElemType != (int)TensorProto.Types.DataType.Float))
            return (Outcome.NotRecognised, "its cached keys are not float32");
        var graphs = GraphWalker.AllGraphs(top).ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var graph in graphs)
        {
            names.UnionWith(graph.Input.Select(i => i.Name));
            names.UnionWith(graph.Initializer.Select(t => t.Name));
            names.UnionWith(graph.Node.SelectMany(n => n.Output));
        }
        if (names.Contains(T5Model.DecoderMaskInput) || names.Any(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
            return (Outcome.NotRecognised, $"it already has values named {T5Model.DecoderMaskInput}");

        // The with-past graph: the top one, or (merged decoder) the If branch over the cached keys; the other branch, the
        // first step, has self-attention too but over keys of its own.
        var candidates = top.Input.Any(i => i.Name == "use_cache_branch")
            ? top.Node.Where(n => n.OpType == "If").SelectMany(n => n.Attribute).Select(a => a.G).OfType<GraphProto>().ToList()
            : [top];
        var matches = candidates.Select(g => (Graph: g, Adds: FindScoreAdds(g))).Where(m => m.Adds.Count > 0).ToList();
        if (matches.Count != 1)
        {
            return (Outcome.NotRecognised, matches.Count == 0
                ? "no Softmax reads an Add of a Q·Kᵀ MatMul over past_key_values.{i}.decoder.key (the self-attention scores)"
                : "more than one graph adds position bias to scores over past_key_values.{i}.decoder.key");
        }

        var (withPast, adds) = matches[0];
        if (adds.Count != pastKeys.Count)
            return (Outcome.NotRecognised, $"found {adds.Count} self-attention score Adds over the cached decoder keys, expected one per layer ({pastKeys.Count})");

        var opset = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(0).Max();
        Rewrite(withPast, adds, opset);
        var inputIds = top.Input.Select((v, i) => (v.Name, i)).FirstOrDefault(p => p.Name == "input_ids");
        top.Input.Insert(inputIds.Name is null ? top.Input.Count : inputIds.i + 1, MaskInput());
        return (Outcome.Added, null);
    }

    /// <summary>Reads a model file and rewrites it (see <see cref="TryAddMask(ModelProto)"/>); the file stays as it is.</summary>
    public static (Outcome Outcome, ModelProto? Model, string? Reason) TryRewriteFile(string path)
    {
        ModelProto model;
        try
        {
            using var stream = File.OpenRead(path);
            model = ModelProto.Parser.ParseFrom(stream);
        }
        catch (InvalidProtocolBufferException e)
        {
            return (Outcome.NotRecognised, null, $"it could not be parsed as ONNX ({e.Message})");
        }
        var (outcome, reason) = TryAddMask(model);
        return (outcome, outcome == Outcome.Added ? model : null, reason);
    }

    /// <summary>
    /// For <see cref="T5Model.Load"/>: the with-past (or merged) decoder's graph to run instead of the file, null to run the
    /// file as it is; and, when rows will not be able to join a running batch, why.
    /// </summary>
    public static (byte[]? Graph, string? JoinUnavailableReason) ForLoad(string path, bool enabled)
    {
        const string consequence = "new prompts wait for the running batch to finish";
        if (!enabled)
            return (null, $"the engine does not add {T5Model.DecoderMaskInput} to stock decoders (ModelOptions.AddDecoderMask is off); {consequence}");
        var (outcome, model, reason) = TryRewriteFile(path);
        return outcome switch
        {
            Outcome.Added => (model!.ToByteArray(), null),
            Outcome.AlreadyTakesMask => (null, null),
            _ => (null, $"{Path.GetFileName(path)} was not recognised as a T5 decoder the engine can add {T5Model.DecoderMaskInput} to ({reason}); {consequence}"),
        };
    }

    /// <summary>
    /// The Add in front of each self-attention Softmax whose scores come from the cached decoder keys, and which of its
    /// two inputs is the bias.
    /// </summary>
    private static List<(NodeProto Add, int BiasSlot)> FindScoreAdds(GraphProto graph)
    {
        var producer = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            foreach (var output in node.Output)
            {
                if (output.Length > 0)
                    producer[output] = node;
            }
        }

        var found = new List<(NodeProto, int)>();
        foreach (var softmax in graph.Node)
        {
            if (softmax.OpType != "Softmax" || softmax.Input.Count == 0)
                continue;
            var add = SkipCasts(producer, softmax.Input[0]);
            if (add is not { OpType: "Add" } || add.Input.Count != 2)
                continue;
            for (var slot = 0; slot < 2; slot++)
            {
                var scores = SkipCasts(producer, add.Input[slot]);
                if (scores is { OpType: "MatMul" } && scores.Input.Count == 2 && ReachesPastDecoderKey(producer, scores.Input[1], depth: 6))
                {
                    found.Add((add, 1 - slot));
                    break;
                }
            }
        }
        return found;
    }

    private static void Rewrite(GraphProto graph, List<(NodeProto Add, int BiasSlot)> adds, long opset)
    {
        var shared = new List<NodeProto>();
        if (opset >= 13)
            shared.Add(Constant(Prefix + "axes", [1L, 2L]));
        shared.Add(Constant(Prefix + "one", 1f));
        shared.Add(Constant(Prefix + "min", float.MinValue));
        shared.Add(Node("Cast", [T5Model.DecoderMaskInput], Prefix + "float", ("to", (long)TensorProto.Types.DataType.Float)));
        shared.Add(Node("Sub", [Prefix + "one", Prefix + "float"], Prefix + "inverted"));
        shared.Add(Node("Mul", [Prefix + "inverted", Prefix + "min"], Prefix + "padding"));
        // [batch, 1, 1, past + 1]: broadcast over heads and the query, as mask[:, None, None, :] (axes became an input in opset 13)
        shared.Add(opset >= 13
            ? Node("Unsqueeze", [Prefix + "padding", Prefix + "axes"], Prefix + "padding4")
            : Node("Unsqueeze", [Prefix + "padding"], Prefix + "padding4", ("axes", [1L, 2L])));

        // One masked bias per distinct bias tensor, computed right before the first Add that reads it (the bias is produced
        // before that Add, the mask is a graph input, so the node order stays topological).
        var masked = new Dictionary<string, string>(StringComparer.Ordinal);
        var byAdd = new Dictionary<NodeProto, int>(ReferenceEqualityComparer.Instance);
        foreach (var (add, slot) in adds)
            byAdd[add] = slot;
        var nodes = new List<NodeProto>(graph.Node.Count + shared.Count + adds.Count);
        foreach (var node in graph.Node)
        {
            if (byAdd.TryGetValue(node, out var slot))
            {
                if (shared.Count > 0)
                {
                    nodes.AddRange(shared);
                    shared.Clear();
                }
                var bias = node.Input[slot];
                if (!masked.TryGetValue(bias, out var name))
                {
                    name = Prefix + "bias" + masked.Count.ToString(CultureInfo.InvariantCulture);
                    nodes.Add(Node("Add", [bias, Prefix + "padding4"], name));
                    masked[bias] = name;
                }
                node.Input[slot] = name;
            }
            nodes.Add(node);
        }
        graph.Node.Clear();
        graph.Node.Add(nodes);
    }

    private static ValueInfoProto MaskInput() => new()
    {
        Name = T5Model.DecoderMaskInput,
        Type = new TypeProto
        {
            TensorType = new TypeProto.Types.Tensor
            {
                ElemType = (int)TensorProto.Types.DataType.Int64,
                Shape = new TensorShapeProto
                {
                    Dim =
                    {
                        new TensorShapeProto.Types.Dimension { DimParam = "batch_size" },
                        new TensorShapeProto.Types.Dimension { DimParam = "past_decoder_sequence_length + 1" },
                    },
                },
            },
        },
    };

    private static bool IsPastDecoderKey(string name) =>
        name.StartsWith("past_key_values.", StringComparison.Ordinal) && name.EndsWith(".decoder.key", StringComparison.Ordinal);

    private static NodeProto? SkipCasts(Dictionary<string, NodeProto> producer, string name)
    {
        producer.TryGetValue(name, out var node);
        while (node is { OpType: "Cast" } && node.Input.Count > 0)
            producer.TryGetValue(node.Input[0], out node);
        return node;
    }

    /// <summary>
    /// Whether the keys of a score MatMul are the cached decoder keys, through the ops that move data without computing
    /// (the concatenation with the new key, transposes, reshapes): not through shape arithmetic.
    /// </summary>
    private static bool ReachesPastDecoderKey(Dictionary<string, NodeProto> producer, string name, int depth)
    {
        if (IsPastDecoderKey(name))
            return true;
        if (depth == 0 || !producer.TryGetValue(name, out var node))
            return false;
        return node.OpType switch
        {
            "Concat" => node.Input.Any(input => ReachesPastDecoderKey(producer, input, depth - 1)),
            "Transpose" or "Reshape" or "Identity" or "Cast" or "Unsqueeze" or "Squeeze" or "Expand" or "Slice" =>
                node.Input.Count > 0 && ReachesPastDecoderKey(producer, node.Input[0], depth - 1),
            _ => false,
        };
    }

    private static NodeProto Node(string op, string[] inputs, string output)
    {
        var node = new NodeProto { OpType = op, Name = output, Output = { output } };
        node.Input.Add(inputs);
        return node;
    }

    private static NodeProto Node(string op, string[] inputs, string output, (string Name, long Value) attribute)
    {
        var node = Node(op, inputs, output);
        node.Attribute.Add(new AttributeProto { Name = attribute.Name, Type = AttributeProto.Types.AttributeType.Int, I = attribute.Value });
        return node;
    }

    private static NodeProto Node(string op, string[] inputs, string output, (string Name, long[] Values) attribute)
    {
        var node = Node(op, inputs, output);
        node.Attribute.Add(new AttributeProto { Name = attribute.Name, Type = AttributeProto.Types.AttributeType.Ints, Ints = { attribute.Values } });
        return node;
    }

    private static NodeProto Constant(string output, float value) => Constant(output, new TensorProto
    {
        DataType = (int)TensorProto.Types.DataType.Float,
        RawData = ByteString.CopyFrom(BitConverter.GetBytes(value)),
    });

    private static NodeProto Constant(string output, long[] values)
    {
        var tensor = new TensorProto { DataType = (int)TensorProto.Types.DataType.Int64, Dims = { values.Length } };
        tensor.Int64Data.Add(values);
        return Constant(output, tensor);
    }

    private static NodeProto Constant(string output, TensorProto value) => new()
    {
        OpType = "Constant",
        Name = output,
        Output = { output },
        Attribute = { new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = value } },
    };
}
