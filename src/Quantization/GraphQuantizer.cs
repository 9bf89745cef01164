using System.Globalization;
using Onnx;
using Serverless.Inference.Onnx;

namespace Serverless.Quantization;

/// <summary>What quantizing one graph did.</summary>
/// <param name="MatMulsQuantized">MatMul nodes rewritten (a weight used by both branches of an <c>If</c> counts twice).</param>
/// <param name="WeightsQuantized">Distinct MatMul weights quantized: each is stored once, where the original was.</param>
/// <param name="MatMulsLeft">MatMul nodes left in fp32 because their right-hand side is not a constant (e.g. attention scores).</param>
/// <param name="EmbeddingsQuantized">Distinct embedding tables (Gather data) quantized.</param>
/// <param name="EmbeddingsLeft">Gathers of a constant fp32 table left in fp32 (embeddings off, or a small table such as T5's relative position bias).</param>
public sealed record GraphQuantizationSummary(
    int MatMulsQuantized, int WeightsQuantized, int MatMulsLeft, long WeightBytesBefore, long WeightBytesAfter,
    int EmbeddingsQuantized = 0, int EmbeddingsLeft = 0);

/// <summary>
/// Rewrites every <c>MatMul</c> whose right-hand side is a constant fp32 weight (an initializer of its graph or of an
/// enclosing graph, as in the merged decoder's <c>If</c> branches) into a quantized form. The quantized weight is
/// stored once, in the graph that held the original, so the branches keep sharing it; the original is removed when
/// nothing else reads it. Anything the rewrite does not handle is an error naming the node and operator.
/// </summary>
internal sealed class GraphQuantizer
{
    private const string MicrosoftDomain = "com.microsoft";

    /// <summary>Smaller tables (T5's relative position bias: buckets × heads) stay fp32: nothing to gain, some fidelity to lose.</summary>
    private const long MinimumEmbeddingWeights = 1 << 16;

    private static readonly HashSet<string> AlreadyQuantizedOps =
    [
        "MatMulNBits", "MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "QLinearMatMul", "DequantizeLinear",
        "QuantizeLinear", "DynamicQuantizeLinear", "QGemm", "MatMulBnb4", "GatherBlockQuantized",
    ];

    private readonly QuantizationOptions _options;
    private readonly string _file;
    private readonly Dictionary<TensorProto, string[]> _quantized = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<TensorProto, string[]> _embeddings = new(ReferenceEqualityComparer.Instance);
    private int _embeddingsLeft;
    private readonly List<(GraphProto Owner, TensorProto Original)> _originals = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private int _matMulsQuantized, _matMulsLeft;
    private long _bytesBefore, _bytesAfter;

    private GraphQuantizer(QuantizationOptions options, string file)
    {
        _options = options;
        _file = file;
    }

    /// <summary>Quantizes the model in place.</summary>
    /// <param name="file">The file's name, for messages.</param>
    public static GraphQuantizationSummary Quantize(ModelProto model, QuantizationOptions options, string file)
    {
        options.Validate();
        var quantizer = new GraphQuantizer(options, file);
        return quantizer.Run(model);
    }

    private GraphQuantizationSummary Run(ModelProto model)
    {
        var defaultOpset = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(0).Max();
        if (_options.Form == QuantizedMatMulForm.MatMulInteger && defaultOpset < 11)
            throw new QuantizationException($"{_file}: opset {defaultOpset} is older than 11, which DynamicQuantizeLinear needs; re-export with a newer opset or use the MatMulNBits form.");

        foreach (var graph in GraphWalker.AllGraphs(model.Graph))
        {
            foreach (var node in graph.Node) _names.UnionWith(node.Output);
            foreach (var t in graph.Initializer) _names.Add(t.Name);
            foreach (var v in graph.Input) _names.Add(v.Name);
            foreach (var node in graph.Node) if (node.Name.Length > 0) _names.Add(node.Name);
        }

        Rewrite(model.Graph, [model.Graph]);

        if (_quantized.Count == 0)
            throw new QuantizationException($"{_file}: no MatMul has a constant fp32 weight; there is nothing to quantize.");

        RemoveUnusedOriginals(model.Graph);
        var usesContribOps = GraphWalker.AllGraphs(model.Graph).SelectMany(g => g.Node).Any(n => n.Domain == MicrosoftDomain);
        if (usesContribOps && !model.OpsetImport.Any(o => o.Domain == MicrosoftDomain))
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = MicrosoftDomain, Version = 1 });
        return new GraphQuantizationSummary(_matMulsQuantized, _quantized.Count, _matMulsLeft, _bytesBefore, _bytesAfter, _embeddings.Count, _embeddingsLeft);
    }

    private void Rewrite(GraphProto graph, IReadOnlyList<GraphProto> scope)
    {
        var nodes = new List<NodeProto>(graph.Node.Count);
        foreach (var node in graph.Node)
        {
            foreach (var sub in GraphWalker.Subgraphs(node))
                Rewrite(sub, [.. scope, sub]);

            var where = $"{_file}: node '{node.Name}' ({(node.Domain.Length > 0 ? node.Domain + "." : "")}{node.OpType})";
            if (AlreadyQuantizedOps.Contains(node.OpType))
                throw new QuantizationException($"{where}: the model is already quantized; quantize the fp32 export instead.");

            var isOnnx = node.Domain is "" or "ai.onnx";
            if (isOnnx && node.OpType == "Gemm" && node.Input.Count > 1 && Resolve(node.Input[1], scope) is not null)
                throw new QuantizationException($"{where}: a Gemm with a constant weight is not handled (only MatMul is rewritten); export the model with MatMul + Add.");
            if (isOnnx && node.OpType == "Gather" && node.Input.Count == 2 && Resolve(node.Input[0], scope) is { } table)
            {
                nodes.Add(QuantizeGather(node, table.Item1, table.Item2, where));
                continue;
            }
            if (!isOnnx || node.OpType != "MatMul" || node.Input.Count != 2)
            {
                nodes.Add(node);
                continue;
            }
            (GraphProto Owner, TensorProto Tensor)? weight = Resolve(node.Input[1], scope);
            if (weight is null)
            {
                _matMulsLeft++;
                nodes.Add(node);
                continue;
            }
            var w = weight.Value.Tensor;
            if (w.DataType != TensorData.Float)
                throw new QuantizationException($"{where}: its weight '{w.Name}' is {TensorData.TypeName(w.DataType)}; only fp32 weights are quantized (quantize the fp32 export).");
            if (w.Dims.Count != 2)
                throw new QuantizationException($"{where}: its weight '{w.Name}' has shape [{string.Join(", ", w.Dims)}]; only 2-D weights [K, N] are handled.");
            if (w.Dims[0] > int.MaxValue / Math.Max(1, w.Dims[1]))
                throw new QuantizationException($"{where}: its weight '{w.Name}' [{w.Dims[0]}, {w.Dims[1]}] is too large for one tensor.");

            if (!_quantized.TryGetValue(w, out var names))
            {
                names = QuantizeWeight(weight.Value.Owner, w, where);
                _quantized.Add(w, names);
                _originals.Add((weight.Value.Owner, w));
            }
            _matMulsQuantized++;
            nodes.AddRange(_options.Form == QuantizedMatMulForm.MatMulNBits
                ? [MatMulNBitsNode(node, names, (int)w.Dims[0], (int)w.Dims[1])]
                : MatMulIntegerNodes(node, names));
        }
        graph.Node.Clear();
        graph.Node.AddRange(nodes);
    }

    /// <summary>
    /// The initializer a name refers to from the innermost graph of <paramref name="scope"/>, or null when the name is
    /// computed (a node output or a graph input) in the scope it resolves in.
    /// </summary>
    private static (GraphProto, TensorProto)? Resolve(string name, IReadOnlyList<GraphProto> scope)
    {
        for (var i = scope.Count - 1; i >= 0; i--)
        {
            var g = scope[i];
            var initializer = g.Initializer.FirstOrDefault(t => t.Name == name);
            if (initializer is not null)
                return (g, initializer);
            if (g.Node.Any(n => n.Output.Contains(name)) || g.Input.Any(v => v.Name == name))
                return null;
        }
        return null;
    }

    /// <summary>
    /// A Gather of a 2-D fp32 table along axis 0 becomes <c>GatherBlockQuantized</c>: each row quantized in blocks
    /// along its length, <c>data [rows, columns·bits/8]</c> (4-bit: low nibble first), <c>scales [rows, blocks]</c>,
    /// <c>zero_points [rows, ceil(blocks·bits/8)]</c>. That is the MatMulNBits layout of the transposed table.
    /// </summary>
    private NodeProto QuantizeGather(NodeProto gather, GraphProto owner, TensorProto table, string where)
    {
        var axis = gather.Attribute.FirstOrDefault(a => a.Name == "axis")?.I ?? 0;
        if (!_options.QuantizeEmbeddings || table.DataType != TensorData.Float || table.Dims.Count != 2 || axis != 0 ||
            table.Dims[0] * table.Dims[1] is < MinimumEmbeddingWeights or > int.MaxValue)
        {
            if (table.DataType == TensorData.Float)
                _embeddingsLeft++;
            return gather;
        }
        int rows = (int)table.Dims[0], columns = (int)table.Dims[1];
        if (!_embeddings.TryGetValue(table, out var names))
        {
            float[] values;
            try
            {
                values = TensorData.ReadFloats(table);
            }
            catch (QuantizationException e)
            {
                throw new QuantizationException($"{where}: {e.Message}", e);
            }
            var transposed = new float[values.Length];
            for (var r = 0; r < rows; r++)
            {
                for (var c = 0; c < columns; c++)
                    transposed[c * rows + r] = values[r * columns + c];
            }

            var q = BlockQuantizer.Quantize(transposed, columns, rows, QuantizationOptions.EmbeddingBits, BlockFor(columns));
            string data = Unique($"{table.Name}_Q{QuantizationOptions.EmbeddingBits}"), scales = Unique($"{table.Name}_scales"), zeros = Unique($"{table.Name}_zero_points");
            // Rows hold exactly `columns` codes (8-bit: one byte each); a last partial block's padding is dropped.
            var packed = q.Packed;
            if (q.Blocks * q.BlockSize != columns)
            {
                packed = new byte[(long)rows * columns];
                for (var r = 0; r < rows; r++)
                    Array.Copy(q.Packed, (long)r * q.Blocks * q.BlockSize, packed, (long)r * columns, columns);
            }
            owner.Initializer.Add(TensorData.Make<byte>(data, TensorData.UInt8, packed, rows, columns));
            owner.Initializer.Add(TensorData.Make<float>(scales, TensorData.Float, q.Scales, rows, q.Blocks));
            owner.Initializer.Add(TensorData.Make<byte>(zeros, TensorData.UInt8, q.ZeroPoints, rows, q.ZeroPoints.Length / rows));
            _bytesBefore += (long)rows * columns * sizeof(float);
            _bytesAfter += packed.Length + q.Scales.Length * sizeof(float) + q.ZeroPoints.Length;
            names = [data, scales, zeros];
            _embeddings.Add(table, names);
            _originals.Add((owner, table));
        }
        var node = new NodeProto
        {
            Name = Unique((gather.Name.Length > 0 ? gather.Name : gather.Output[0]) + $"_Q{QuantizationOptions.EmbeddingBits}"),
            OpType = "GatherBlockQuantized",
            Domain = MicrosoftDomain,
        };
        node.Input.AddRange([names[0], gather.Input[1], names[1], names[2]]);
        node.Output.AddRange(gather.Output);
        node.Attribute.Add(Int("gather_axis", 0));
        node.Attribute.Add(Int("quantize_axis", 1));
        node.Attribute.Add(Int("block_size", BlockFor(columns)));
        node.Attribute.Add(Int("bits", QuantizationOptions.EmbeddingBits));
        return node;
    }

    private string[] QuantizeWeight(GraphProto owner, TensorProto weight, string where)
    {
        int k = (int)weight.Dims[0], n = (int)weight.Dims[1];
        float[] values;
        try
        {
            values = TensorData.ReadFloats(weight);
        }
        catch (QuantizationException e)
        {
            throw new QuantizationException($"{where}: {e.Message}", e);
        }
        _bytesBefore += (long)k * n * sizeof(float);
        if (_options.Form == QuantizedMatMulForm.MatMulNBits)
        {
            var q = BlockQuantizer.Quantize(values, k, n, _options.Bits, BlockFor(k), _options.Symmetric);
            string b = Unique($"{weight.Name}_Q{_options.Bits}"), scales = Unique($"{weight.Name}_scales");
            owner.Initializer.Add(TensorData.Make<byte>(b, TensorData.UInt8, q.Packed, n, q.Blocks, q.BlockSize * q.Bits / 8));
            owner.Initializer.Add(TensorData.Make<float>(scales, TensorData.Float, q.Scales, (long)n * q.Blocks));
            _bytesAfter += q.Packed.Length + q.Scales.Length * sizeof(float);
            if (_options.Symmetric)
                return [b, scales];
            var zeros = Unique($"{weight.Name}_zero_points");
            owner.Initializer.Add(TensorData.Make<byte>(zeros, TensorData.UInt8, q.ZeroPoints, q.ZeroPoints.Length));
            _bytesAfter += q.ZeroPoints.Length;
            return [b, scales, zeros];
        }
        else
        {
            var q = ColumnQuantizer.Quantize(values, k, n);
            string codes = Unique($"{weight.Name}_quantized"), scales = Unique($"{weight.Name}_scale");
            owner.Initializer.Add(TensorData.Make<sbyte>(codes, TensorData.Int8, q.Codes, k, n));
            owner.Initializer.Add(TensorData.Make<float>(scales, TensorData.Float, q.Scales, n));
            _bytesAfter += q.Codes.Length + q.Scales.Length * sizeof(float);
            return [codes, scales];
        }
    }

    private NodeProto MatMulNBitsNode(NodeProto matMul, string[] weight, int k, int n)
    {
        var node = new NodeProto
        {
            Name = Unique((matMul.Name.Length > 0 ? matMul.Name : matMul.Output[0]) + $"_Q{_options.Bits}"),
            OpType = "MatMulNBits",
            Domain = MicrosoftDomain,
        };
        node.Input.AddRange([matMul.Input[0], .. weight]);
        node.Output.AddRange(matMul.Output);
        node.Attribute.Add(Int("K", k));
        node.Attribute.Add(Int("N", n));
        node.Attribute.Add(Int("bits", _options.Bits));
        node.Attribute.Add(Int("block_size", BlockFor(k)));
        if (_options.AccuracyLevel > 0)
            node.Attribute.Add(Int("accuracy_level", _options.AccuracyLevel));
        return node;
    }

    /// <summary>
    /// The activations quantized on the fly to uint8, the int32 product cast back and scaled by
    /// activation scale × column scales: the pattern ONNX Runtime fuses into <c>DynamicQuantizeMatMul</c>.
    /// </summary>
    private IEnumerable<NodeProto> MatMulIntegerNodes(NodeProto matMul, string[] weight)
    {
        var baseName = matMul.Name.Length > 0 ? matMul.Name : matMul.Output[0];
        var output = matMul.Output[0];
        string aQuantized = Unique(output + "_input_quantized"), aScale = Unique(output + "_input_scale"), aZero = Unique(output + "_input_zero_point");
        string product = Unique(output + "_int32"), productFloat = Unique(output + "_int32_float"), scale = Unique(output + "_scale");

        var quantize = new NodeProto { Name = Unique(baseName + "_QuantizeInput"), OpType = "DynamicQuantizeLinear" };
        quantize.Input.Add(matMul.Input[0]);
        quantize.Output.AddRange([aQuantized, aScale, aZero]);
        yield return quantize;

        var integer = new NodeProto { Name = Unique(baseName + "_MatMulInteger"), OpType = "MatMulInteger" };
        integer.Input.AddRange([aQuantized, weight[0], aZero]);
        integer.Output.Add(product);
        yield return integer;

        var cast = new NodeProto { Name = Unique(baseName + "_Cast"), OpType = "Cast" };
        cast.Input.Add(product);
        cast.Output.Add(productFloat);
        cast.Attribute.Add(Int("to", TensorData.Float));
        yield return cast;

        var scales = new NodeProto { Name = Unique(baseName + "_ScaleMul"), OpType = "Mul" };
        scales.Input.AddRange([aScale, weight[1]]);
        scales.Output.Add(scale);
        yield return scales;

        var output_ = new NodeProto { Name = Unique(baseName + "_OutputMul"), OpType = "Mul" };
        output_.Input.AddRange([productFloat, scale]);
        output_.Output.AddRange(matMul.Output);
        yield return output_;
    }

    private void RemoveUnusedOriginals(GraphProto root)
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var g in GraphWalker.AllGraphs(root))
        {
            foreach (var node in g.Node) used.UnionWith(node.Input);
            foreach (var output in g.Output) used.Add(output.Name);
        }
        foreach ((var owner, var original) in _originals)
        {
            if (used.Contains(original.Name))
                continue; // another operator still reads the fp32 weight (e.g. a tied embedding): keep it
            owner.Initializer.Remove(original);
            foreach (var v in owner.Input.Where(v => v.Name == original.Name).ToList()) owner.Input.Remove(v);
            foreach (var v in owner.ValueInfo.Where(v => v.Name == original.Name).ToList()) owner.ValueInfo.Remove(v);
        }
    }

    /// <summary>
    /// The block size for a reduction of length <paramref name="k"/>: the chosen one, or the smallest power of two
    /// (at least 16, ONNX Runtime's minimum) covering K when K is shorter, so that no block is mostly padding.
    /// </summary>
    private int BlockFor(int k)
    {
        var block = _options.EffectiveBlockSize;
        while (block > 16 && block / 2 >= k)
            block /= 2;
        return block;
    }

    private string Unique(string name)
    {
        var candidate = name;
        for (var i = 1; !_names.Add(candidate); i++)
            candidate = string.Create(CultureInfo.InvariantCulture, $"{name}_{i}");
        return candidate;
    }

    private static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };
}
