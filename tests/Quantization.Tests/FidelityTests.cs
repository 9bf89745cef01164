using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;
using Serverless.Inference.Onnx;

namespace Serverless.Quantization.Tests;

/// <summary>
/// Lower bounds on the fidelity of the quantized tiny model against fp32 (teacher-forced over 2,560 decoder steps,
/// greedy goldens), and proof that the bounds catch a broken quantizer: a transposed weight or a wrong scale fails them.
/// Measured on models/demo with the defaults: 8-bit top-1 94.3 %, cosine 0.9995, goldens 10/15; 4-bit top-1 61 %,
/// cosine 0.964.
/// </summary>
public class FidelityTests
{
    private static readonly FidelityOptions Options = new() { GoldensPath = TestModels.Goldens, IntraOpThreads = 1 };

    private static void AssertEightBitBounds(FidelityReport r)
    {
        Assert.True(r.TeacherForcedSteps >= 2000, $"only {r.TeacherForcedSteps} steps compared");
        Assert.True(r.Top1Agreement >= 0.92, $"top-1 agreement {r.Top1Agreement:P2} < 92 %\n{r.ToText()}");
        Assert.True(r.MeanCosine >= 0.999, $"mean cosine {r.MeanCosine:F5} < 0.999\n{r.ToText()}");
        Assert.True(r.GoldenExact >= 4, $"{r.GoldenExact}/{r.GoldenCases} greedy goldens reproduced, fewer than 4\n{r.ToText()}");
    }

    private static bool MeetsEightBitBounds(FidelityReport r) => r.Top1Agreement >= 0.92 && r.MeanCosine >= 0.999 && r.GoldenExact >= 4;

    [Fact]
    public async Task Eight_bit_meets_its_bounds()
    {
        var q = TestModels.TempFolder();
        await ExportQuantizer.QuantizeAsync(TestModels.Demo, q, new QuantizationOptions { Bits = 8 });
        var report = FidelityComparer.Compare(TestModels.Demo, q, Options);
        AssertEightBitBounds(report);
        Assert.Equal(15, report.GoldenCases);
    }

    [Fact]
    public async Task Eight_bit_MatMulInteger_meets_the_same_bounds()
    {
        var q = TestModels.TempFolder();
        await ExportQuantizer.QuantizeAsync(TestModels.Demo, q, new QuantizationOptions { Bits = 8, Form = QuantizedMatMulForm.MatMulInteger });
        AssertEightBitBounds(FidelityComparer.Compare(TestModels.Demo, q, Options));
    }

    [Fact]
    public async Task Four_bit_meets_its_bounds()
    {
        var q = TestModels.TempFolder();
        await ExportQuantizer.QuantizeAsync(TestModels.Demo, q, new QuantizationOptions { Bits = 4 });
        var r = FidelityComparer.Compare(TestModels.Demo, q, Options);
        Assert.True(r.Top1Agreement >= 0.5, $"top-1 agreement {r.Top1Agreement:P2} < 50 %\n{r.ToText()}");
        Assert.True(r.MeanCosine >= 0.94, $"mean cosine {r.MeanCosine:F5} < 0.94\n{r.ToText()}");
    }

    [Fact]
    public void The_fp32_model_against_itself_agrees_completely()
    {
        var r = FidelityComparer.Compare(TestModels.Demo, TestModels.Demo, Options);
        Assert.Equal(1.0, r.Top1Agreement);
        Assert.True(r.MeanCosine > 0.999999);
        Assert.Equal(r.GreedySequences, r.GreedyExact);
        Assert.Equal(r.GoldenCases, r.GoldenExact);
    }

    [Fact]
    public async Task A_transposed_weight_fails_the_bounds()
    {
        // The square attention weights transposed before quantizing: shapes still fit, the numbers do not.
        var broken = TestModels.TempFolder();
        foreach (var name in new[] { "config.json", "generation_config.json", "spiece.model" })
            File.Copy(Path.Combine(TestModels.Demo, name), Path.Combine(broken, name));
        foreach (var graph in new[] { "encoder_model", "decoder_model_merged" })
        {
            var model = OnnxModelFile.Load(Path.Combine(TestModels.Demo, graph + ".onnx"));
            foreach (var t in GraphWalker.AllGraphs(model.Graph).SelectMany(g => g.Initializer).Where(t => t.Dims.Count == 2 && t.Dims[0] == t.Dims[1]))
                t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(Transpose(TensorData.ReadFloats(t), (int)t.Dims[0]).AsSpan()));
            GraphQuantizer.Quantize(model, new QuantizationOptions(), graph);
            OnnxModelFile.Save(model, Path.Combine(broken, graph + "_quantized.onnx"), long.MaxValue);
        }
        var r = FidelityComparer.Compare(TestModels.Demo, broken, Options);
        Assert.False(MeetsEightBitBounds(r), $"a transposed weight passed the bounds:\n{r.ToText()}");
    }

    [Theory]
    [InlineData(1.25f)]
    [InlineData(0.8f)]
    public async Task A_wrong_scale_fails_the_bounds(float factor)
    {
        var q = TestModels.TempFolder();
        await ExportQuantizer.QuantizeAsync(TestModels.Demo, q, new QuantizationOptions { Bits = 8 });
        foreach (var file in new[] { "encoder_model_quantized.onnx", "decoder_model_merged_quantized.onnx" })
        {
            var path = Path.Combine(q, file);
            var model = OnnxModelFile.Load(path);
            foreach (var t in model.Graph.Initializer.Where(t => t.Name.EndsWith("_scales", StringComparison.Ordinal)))
                t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(TensorData.ReadFloats(t).Select(s => s * factor).ToArray().AsSpan()));
            OnnxModelFile.Save(model, path, long.MaxValue);
        }
        var r = FidelityComparer.Compare(TestModels.Demo, q, Options);
        Assert.False(MeetsEightBitBounds(r), $"scales × {factor} passed the bounds:\n{r.ToText()}");
    }

    private static float[] Transpose(float[] square, int size)
    {
        var result = new float[square.Length];
        for (var i = 0; i < size; i++)
        {
            for (var j = 0; j < size; j++)
                result[j * size + i] = square[i * size + j];
        }

        return result;
    }
}
