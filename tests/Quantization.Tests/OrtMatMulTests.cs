using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace Serverless.Quantization.Tests;

/// <summary>
/// The rewritten MatMul, run by ONNX Runtime, computes <c>X · dequantize(W)</c>: this pins the weight layout,
/// packing and scales to what ONNX Runtime's kernels read (a transposed or mis-packed weight fails it).
/// </summary>
public class OrtMatMulTests
{
    [Theory]
    [InlineData(4, 32, 64, 48, false)]
    [InlineData(4, 64, 96, 40, false)]    // K not a multiple of the block size
    [InlineData(4, 128, 64, 33, false)]   // K shorter than a block
    [InlineData(8, 32, 64, 48, false)]
    [InlineData(8, 128, 160, 24, false)]
    [InlineData(4, 32, 96, 40, true)]     // symmetric: no zero points input
    [InlineData(8, 64, 160, 24, true)]
    public void MatMulNBits_equals_the_product_with_the_dequantized_weight(int bits, int blockSize, int k, int n, bool symmetric)
    {
        var weight = TestModels.Random(k * n, seed: 3);
        var model = TestModels.MatMul(weight, k, n);
        // accuracy_level 0 computes in fp32, so the only difference from the reference is summation order.
        var options = new QuantizationOptions { Bits = bits, BlockSize = blockSize, AccuracyLevel = 0, Symmetric = symmetric };
        GraphQuantizer.Quantize(model, options, "test.onnx");

        var node = Assert.Single(model.Graph.Node);
        Assert.Equal(("MatMulNBits", "com.microsoft"), (node.OpType, node.Domain));
        Assert.Equal(symmetric ? 3 : 4, node.Input.Count);
        Assert.DoesNotContain(model.Graph.Initializer, t => t.Name == "W");

        var x = TestModels.Random(3 * k, seed: 5);
        var actual = Run(model, x, 3, k);
        var expected = Multiply(x, BlockQuantizer.Dequantize(BlockQuantizer.Quantize(weight, k, n, bits, blockSize, symmetric)), 3, k, n);
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-4f * (1 + Math.Abs(expected[i])), $"element {i}: ONNX Runtime {actual[i]}, expected {expected[i]}");
    }

    [Theory]
    [InlineData(QuantizedMatMulForm.MatMulNBits, 8, 4, 0.02)]
    [InlineData(QuantizedMatMulForm.MatMulNBits, 4, 4, 0.12)]
    [InlineData(QuantizedMatMulForm.MatMulInteger, 8, 0, 0.03)]
    public void Every_form_stays_close_to_the_fp32_product(QuantizedMatMulForm form, int bits, int accuracyLevel, double maxRelativeError)
    {
        const int m = 4, k = 256, n = 64;
        var weight = TestModels.Random(k * n, seed: 11);
        var model = TestModels.MatMul(weight, k, n);
        GraphQuantizer.Quantize(model, new QuantizationOptions { Form = form, Bits = bits, AccuracyLevel = accuracyLevel }, "test.onnx");

        var x = TestModels.Random(m * k, seed: 13);
        var actual = Run(model, x, m, k);
        var exact = Multiply(x, weight, m, k, n);
        var error = Math.Sqrt(actual.Zip(exact, (a, e) => (double)(a - e) * (a - e)).Sum() / exact.Sum(e => (double)e * e));
        Assert.InRange(error, 0, maxRelativeError);
    }

    [Theory]
    [InlineData(4, 32, 128)]    // embeddings are 8-bit whatever the MatMuls get
    [InlineData(8, 32, 128)]
    [InlineData(4, 64, 128)]
    [InlineData(8, 128, 128)]
    [InlineData(8, 32, 80)]     // a partial last block
    [InlineData(8, 128, 64)]    // a row shorter than a block
    public void GatherBlockQuantized_returns_the_dequantized_rows(int bits, int blockSize, int columns)
    {
        const int rows = 1100; // tables under 65,536 weights stay fp32
        var table = TestModels.Random(rows * columns, seed: 17);
        var graph = new GraphProto { Name = "g" };
        var indices = new ValueInfoProto
        {
            Name = "ids",
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Int64 } },
        };
        graph.Input.Add(indices);
        graph.Output.Add(new ValueInfoProto { Name = "Y", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = TensorData.Float } } });
        graph.Initializer.Add(TensorData.Make<float>("E", TensorData.Float, table, rows, columns));
        var gather = new NodeProto { Name = "embed", OpType = "Gather" };
        gather.Input.AddRange(["E", "ids"]);
        gather.Output.Add("Y");
        graph.Node.Add(gather);
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 14 });
        // A MatMul so the graph has something to quantize besides the table.
        graph.Input.Add(TestModels.Value("X", "M", 32));
        graph.Output.Add(TestModels.Value("Z", "M", 8));
        graph.Initializer.Add(TensorData.Make<float>("W", TensorData.Float, TestModels.Random(32 * 8, 2), 32, 8));
        var matMul = new NodeProto { Name = "mm", OpType = "MatMul" };
        matMul.Input.AddRange(["X", "W"]);
        matMul.Output.Add("Z");
        graph.Node.Add(matMul);

        var summary = GraphQuantizer.Quantize(model, new QuantizationOptions { Bits = bits, BlockSize = blockSize }, "test.onnx");
        Assert.Equal(1, summary.EmbeddingsQuantized);
        Assert.Contains(model.Graph.Node, n => n.OpType == "GatherBlockQuantized");
        Assert.DoesNotContain(model.Graph.Initializer, t => t.Name == "E");
        Assert.Contains(model.Graph.Initializer, t => t.Name == "E_Q8" && t.Dims.SequenceEqual([rows, columns]));

        long[] ids = [0, 7, 1099, 7, 523];
        using var session = new InferenceSession(model.ToByteArray());
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, [ids.Length]);
        using var x = OrtValue.CreateTensorValueFromMemory(new float[32], [1, 32]);
        using var output = session.Run(new RunOptions(), new Dictionary<string, OrtValue> { ["ids"] = idsValue, ["X"] = x }, ["Y"]);
        var actual = output[0].GetTensorDataAsSpan<float>().ToArray();
        Assert.Equal([ids.Length, columns], output[0].GetTensorTypeAndShape().Shape);

        // The reference: each row quantized on its own along its length, then dequantized.
        for (var i = 0; i < ids.Length; i++)
        {
            var row = table.AsSpan((int)ids[i] * columns, columns).ToArray();
            var expected = BlockQuantizer.Dequantize(BlockQuantizer.Quantize(row, columns, 1, QuantizationOptions.EmbeddingBits, blockSize));
            for (var c = 0; c < columns; c++)
                Assert.Equal(expected[c], actual[i * columns + c], 6);
        }
    }

    internal static float[] Run(ModelProto model, float[] x, int m, int k)
    {
        using var session = new InferenceSession(model.ToByteArray());
        using var input = OrtValue.CreateTensorValueFromMemory(x, [m, k]);
        using var output = session.Run(new RunOptions(), new Dictionary<string, OrtValue> { ["X"] = input }, ["Y"]);
        return output[0].GetTensorDataAsSpan<float>().ToArray();
    }

    internal static float[] Multiply(float[] x, float[] w, int m, int k, int n)
    {
        var y = new float[m * n];
        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < n; j++)
            {
                double sum = 0;
                for (var l = 0; l < k; l++)
                    sum += (double)x[i * k + l] * w[l * n + j];
                y[i * n + j] = (float)sum;
            }
        }
        return y;
    }
}
