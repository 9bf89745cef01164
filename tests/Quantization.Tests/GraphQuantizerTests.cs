using Onnx;
using Serverless.Inference.Onnx;

namespace Serverless.Quantization.Tests;

public class GraphQuantizerTests
{
    [Theory]
    [InlineData(8)]
    [InlineData(4)]
    public void The_merged_decoders_branches_keep_sharing_one_copy_of_each_weight(int bits)
    {
        var model = OnnxModelFile.Load(Path.Combine(TestModels.Demo, "decoder_model_merged.onnx"));
        Assert.Empty(model.Graph.Node.Where(n => n.OpType == "If").SelectMany(GraphWalker.Subgraphs).SelectMany(g => g.Initializer));

        var summary = GraphQuantizer.Quantize(model, new QuantizationOptions { Bits = bits }, "decoder_model_merged.onnx");

        var branches = model.Graph.Node.Where(n => n.OpType == "If").SelectMany(GraphWalker.Subgraphs).ToList();
        Assert.Equal(2, branches.Count);
        // Every quantized weight lives once, in the outer graph; the branches hold none.
        Assert.All(branches, b => Assert.Empty(b.Initializer));
        var outer = model.Graph.Initializer.Select(t => t.Name).ToHashSet();
        var used = branches.Select(b => b.Node.Where(n => n.OpType == "MatMulNBits").Select(n => n.Input[1]).ToHashSet()).ToList();
        Assert.Equal(summary.WeightsQuantized, used[0].Union(used[1]).Count());
        Assert.All(used.SelectMany(u => u), name => Assert.Contains(name, outer));
        Assert.All(used.SelectMany(u => u), name => Assert.EndsWith($"_Q{bits}", name));
        // Both branches read shared weights (the with-past branch reads a subset of the no-past one's).
        Assert.True(used[0].Overlaps(used[1]));
        Assert.Equal(summary.MatMulsQuantized, used.Sum(u => u.Count));
        // The token embedding is 8-bit GatherBlockQuantized, also stored once in the outer graph.
        Assert.Equal(1, summary.EmbeddingsQuantized);
        Assert.Contains(model.Graph.Initializer, t => t.Name.EndsWith("_Q8", StringComparison.Ordinal) && t.Dims.SequenceEqual([1024L, 64L]));
        // No MatMul with a constant fp32 weight is left anywhere, and the fp32 weights are gone.
        Assert.DoesNotContain(GraphWalker.AllGraphs(model.Graph).SelectMany(g => g.Node),
            n => n.OpType == "MatMul" && outer.Contains(n.Input[1]));
        Assert.True(summary.MatMulsQuantized > summary.WeightsQuantized);
        Assert.Contains(model.OpsetImport, o => o.Domain == "com.microsoft");
        Assert.True(summary.WeightBytesAfter < summary.WeightBytesBefore / (bits == 8 ? 3 : 5));
    }

    [Fact]
    public void The_lm_head_is_quantized()
    {
        var model = OnnxModelFile.Load(Path.Combine(TestModels.Demo, "decoder_model.onnx"));
        var head = model.Graph.Node.Last(n => n.OpType == "MatMul");
        var weight = head.Input[1];
        Assert.Contains(model.Graph.Initializer, t => t.Name == weight && t.Dims[1] == 1024); // [d_model, vocabulary]

        GraphQuantizer.Quantize(model, new QuantizationOptions(), "decoder_model.onnx");

        Assert.DoesNotContain(model.Graph.Initializer, t => t.Name == weight);
        var quantized = Assert.Single(model.Graph.Node, n => n.OpType == "MatMulNBits" && n.Output[0] == head.Output[0]);
        Assert.Equal(weight + "_Q8", quantized.Input[1]);
        // 8 bits default to blocks of 128, but K = d_model = 64 here: one block of 64, not a block half padding.
        Assert.Equal(64, quantized.Attribute.Single(a => a.Name == "block_size").I);
        Assert.Equal([1024L, 1, 64], model.Graph.Initializer.Single(t => t.Name == weight + "_Q8").Dims);
    }

    [Fact]
    public void A_Gemm_with_a_constant_weight_is_an_error_naming_the_node()
    {
        var model = TestModels.MatMul(TestModels.Random(64 * 8, 1), 64, 8, op: "Gemm");
        var e = Assert.Throws<QuantizationException>(() => GraphQuantizer.Quantize(model, new QuantizationOptions(), "m.onnx"));
        Assert.Contains("'the_matmul' (Gemm)", e.Message);
        Assert.Contains("m.onnx", e.Message);
    }

    [Fact]
    public void An_fp16_weight_is_an_error_naming_the_node_and_type()
    {
        var model = TestModels.MatMul([], 64, 8, weightType: (int)TensorProto.Types.DataType.Float16);
        var e = Assert.Throws<QuantizationException>(() => GraphQuantizer.Quantize(model, new QuantizationOptions(), "m.onnx"));
        Assert.Contains("'the_matmul' (MatMul)", e.Message);
        Assert.Contains("float16", e.Message);
    }

    [Fact]
    public void An_already_quantized_model_is_an_error()
    {
        var model = TestModels.MatMul(TestModels.Random(64 * 8, 1), 64, 8);
        GraphQuantizer.Quantize(model, new QuantizationOptions(), "m.onnx");
        var e = Assert.Throws<QuantizationException>(() => GraphQuantizer.Quantize(model, new QuantizationOptions(), "m.onnx"));
        Assert.Contains("already quantized", e.Message);
        Assert.Contains("(com.microsoft.MatMulNBits)", e.Message);
    }

    [Fact]
    public void A_model_without_constant_weights_is_an_error()
    {
        var model = TestModels.MatMul(TestModels.Random(64 * 8, 1), 64, 8);
        model.Graph.Initializer.Clear();
        model.Graph.Input.Add(TestModels.Value("W", "K", 8));
        var e = Assert.Throws<QuantizationException>(() => GraphQuantizer.Quantize(model, new QuantizationOptions(), "m.onnx"));
        Assert.Contains("nothing to quantize", e.Message);
    }

    [Theory]
    [InlineData(3, 32, QuantizedMatMulForm.MatMulNBits, "--bits")]
    [InlineData(8, 48, QuantizedMatMulForm.MatMulNBits, "--block-size")]
    [InlineData(4, 32, QuantizedMatMulForm.MatMulInteger, "8-bit only")]
    public void Bad_options_are_rejected_by_name(int bits, int blockSize, QuantizedMatMulForm form, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => new QuantizationOptions { Bits = bits, BlockSize = blockSize, Form = form }.Validate());
        Assert.Contains(expected, e.Message);
    }
}
