using System.Text.RegularExpressions;
using Google.Protobuf;
using Onnx;

namespace Serverless.Inference.Model;

/// <summary>
/// Adds the decoder self-attention mask of the project's own export (<c>scripts/reference/export_onnx.py</c>,
/// <c>decoder_attention_mask</c>) to a stock Optimum with-past T5 decoder, so that rows can join a running batch.
/// </summary>
/// <remarks>
/// The Python export adds <c>(1 - mask) * float.MinValue</c>, shaped [batch, 1, 1, past + 1], to the position bias that
/// every self-attention layer adds to its scores before the softmax. This rewrite finds that bias in the graph (the
/// operand, other than the Q·Kᵀ product, of the Add in front of each self-attention Softmax; the self-attention is the
/// one whose keys concatenate <c>past_key_values.{i}.decoder.key</c>) and adds the same term to it, once per distinct
/// bias tensor, before the first layer reads it. With one query token per step (the with-past decoder's case) the
/// causal part of that bias is zero, so the result is the Python export's <c>bias + min(causal, padding)</c> bit for
/// bit. The merged decoder gets the input at the top (after <c>input_ids</c>, as the Python merge puts it) and only its
/// with-past branch reads it. Anything else it does not recognise is left alone and reported.
/// </remarks>
internal static class DecoderMaskGraph
{
    private static readonly Regex PastDecoderKey = new(@"^past_key_values\.\d+\.decoder\.key$", RegexOptions.CultureInvariant);

    /// <summary>
    /// Rewrites <paramref name="model"/> in place. Returns null when done, or why the graph was not recognised (then the
    /// model is unchanged).
    /// </summary>
    public static string? TryAddMask(ModelProto model)
    {
        var top = model.Graph;
        if (top is null)
            return "the model has no graph";
        if (top.Input.Any(i => i.Name == T5Model.DecoderMaskInput))
            return $"it already takes {T5Model.DecoderMaskInput}";
        if (top.Initializer.Concat(GraphWalkerLite.AllGraphs(top).SelectMany(g => g.Initializer))
            .Any(t => t.DataLocation == TensorProto.Types.DataLocation.External))
            return "its weights are stored as external data, which the in-memory rewrite does not read";

        var withPast = top;
        var merged = top.Input.Any(i => i.Name == "use_cache_branch");
        if (merged)
        {
            var ifNode = top.Node.FirstOrDefault(n => n.OpType == "If" && n.Input.Count == 1 && n.Input[0] == "use_cache_branch");
            var thenBranch = ifNode?.Attribute.FirstOrDefault(a => a.Name == "then_branch")?.G;
            if (thenBranch is null)
                return "it has use_cache_branch but no If node on it with a then_branch (the with-past branch)";
            withPast = thenBranch;
        }

        var layers = top.Input.Count(i => PastDecoderKey.IsMatch(i.Name));
        if (layers == 0)
            return "it has no past_key_values.{i}.decoder.key input (not a with-past decoder)";
        var opset = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(0).Max();
        var error = Rewrite(withPast, layers, opset);
        if (error is not null)
            return error;

        var ids = top.Input.Select((v, i) => (v, i)).FirstOrDefault(p => p.v.Name == "input_ids");
        var mask = new ValueInfoProto
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
        top.Input.Insert(ids.v is null ? top.Input.Count : ids.i + 1, mask);
        return null;
    }

    /// <summary>Reads a model file and rewrites it; see <see cref="TryAddMask(ModelProto)"/>.</summary>
    public static (ModelProto? Model, string? Reason) TryRewriteFile(string path)
    {
        ModelProto model;
        try
        {
            using var stream = File.OpenRead(path);
            model = ModelProto.Parser.ParseFrom(stream);
        }
        catch (InvalidProtocolBufferException e)
        {
            return (null, $"it could not be parsed as ONNX ({e.Message})");
        }
        var reason = TryAddMask(model);
        return reason is null ? (model, null) : (null, reason);
    }

    private static string? Rewrite(GraphProto graph, int layers, long opset)
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

        // (index of the Add, the Add, which input is the bias) per self-attention layer
        var found = new List<(int Index, NodeProto Add, int BiasSlot)>();
        for (var index = 0; index < graph.Node.Count; index++)
        {
            var softmax = graph.Node[index];
            if (softmax.OpType != "Softmax")
                continue;
            var add = Skip(producer, softmax.Input[0], "Cast");
            if (add is not { OpType: "Add" } || add.Input.Count != 2)
                continue;
            for (var slot = 0; slot < 2; slot++)
            {
                var scores = Skip(producer, add.Input[slot], "Cast");
                if (scores is { OpType: "MatMul" } && ReachesPastDecoderKey(producer, scores.Input[1], depth: 5))
                {
                    found.Add((graph.Node.IndexOf(add), add, 1 - slot));
                    break;
                }
            }
        }
        if (found.Count != layers)
            return $"found {found.Count} self-attention score Adds over the cached decoder keys, expected one per layer ({layers})";

        var biases = found.Select(f => f.Add.Input[f.BiasSlot]).Distinct(StringComparer.Ordinal).ToList();
        const string prefix = "decoder_attention_mask/";
        var nodes = new List<NodeProto>
        {
            Constant(prefix + "one", 1f),
            Constant(prefix + "min", float.MinValue),
            Node("Cast", [T5Model.DecoderMaskInput], prefix + "float", ("to", (long)TensorProto.Types.DataType.Float)),
            Node("Sub", [prefix + "one", prefix + "float"], prefix + "inverted"),
            Node("Mul", [prefix + "inverted", prefix + "min"], prefix + "padding"),
            // [batch, 1, 1, past + 1]: broadcast over heads and the query, as the Python export's mask[:, None, None, :]
            // (axes became an input in opset 13)
            opset >= 13
                ? Node("Unsqueeze", [prefix + "padding", prefix + "axes"], prefix + "padding4")
                : Node("Unsqueeze", [prefix + "padding"], prefix + "padding4", ("axes", [1L, 2L])),
        };
        if (opset >= 13)
            nodes.Insert(0, Constant(prefix + "axes", [1L, 2L]));
        var renamed = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < biases.Count; i++)
        {
            var name = prefix + "bias" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            nodes.Add(Node("Add", [biases[i], prefix + "padding4"], name));
            renamed[biases[i]] = name;
        }
        foreach (var (_, add, slot) in found)
            add.Input[slot] = renamed[add.Input[slot]];

        // Before the first self-attention Add: every bias is produced by then (each Add reads one), the mask is an input.
        var at = found.Min(f => f.Index);
        for (var i = nodes.Count - 1; i >= 0; i--)
            graph.Node.Insert(at, nodes[i]);
        return null;
    }

    private static NodeProto? Skip(Dictionary<string, NodeProto> producer, string name, string op)
    {
        producer.TryGetValue(name, out var node);
        while (node is not null && node.OpType == op && node.Input.Count > 0)
            producer.TryGetValue(node.Input[0], out node);
        return node;
    }

    /// <summary>Whether a value is computed from a cached decoder key within a few nodes (Transpose, Concat, …).</summary>
    private static bool ReachesPastDecoderKey(Dictionary<string, NodeProto> producer, string name, int depth)
    {
        if (PastDecoderKey.IsMatch(name))
            return true;
        if (depth == 0 || !producer.TryGetValue(name, out var node))
            return false;
        return node.Input.Any(input => ReachesPastDecoderKey(producer, input, depth - 1));
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

    private static NodeProto Constant(string output, float value) => ConstantNode(output, new TensorProto
    {
        DataType = (int)TensorProto.Types.DataType.Float,
        RawData = ByteString.CopyFrom(BitConverter.GetBytes(value)),
    });

    private static NodeProto Constant(string output, long[] values)
    {
        var tensor = new TensorProto { DataType = (int)TensorProto.Types.DataType.Int64, Dims = { values.Length } };
        tensor.Int64Data.Add(values);
        return ConstantNode(output, tensor);
    }

    private static NodeProto ConstantNode(string output, TensorProto value) => new()
    {
        OpType = "Constant",
        Name = output,
        Output = { output },
        Attribute = { new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = value } },
    };

    /// <summary>The graph and its subgraphs (If branches, Loop and Scan bodies).</summary>
    private static class GraphWalkerLite
    {
        public static IEnumerable<GraphProto> AllGraphs(GraphProto root)
        {
            foreach (var node in root.Node)
            {
                foreach (var attribute in node.Attribute)
                {
                    if (attribute.G is { } g)
                    {
                        yield return g;
                        foreach (var sub in AllGraphs(g))
                            yield return sub;
                    }
                    foreach (var graph in attribute.Graphs)
                    {
                        yield return graph;
                        foreach (var sub in AllGraphs(graph))
                            yield return sub;
                    }
                }
            }
        }
    }
}
