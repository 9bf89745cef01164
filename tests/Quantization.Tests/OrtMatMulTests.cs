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
    [InlineData(4, 32, 64, 48)]
    [InlineData(4, 64, 96, 40)]    // K not a multiple of the block size
    [InlineData(4, 128, 64, 33)]   // K shorter than a block
    [InlineData(8, 32, 64, 48)]
    [InlineData(8, 128, 160, 24)]
    public void MatMulNBits_equals_the_product_with_the_dequantized_weight(int bits, int blockSize, int k, int n)
    {
        float[] weight = TestModels.Random(k * n, seed: 3);
        ModelProto model = TestModels.MatMul(weight, k, n);
        // accuracy_level 0 computes in fp32, so the only difference from the reference is summation order.
        var options = new QuantizationOptions { Bits = bits, BlockSize = blockSize, AccuracyLevel = 0 };
        GraphQuantizer.Quantize(model, options, "test.onnx");

        NodeProto node = Assert.Single(model.Graph.Node);
        Assert.Equal(("MatMulNBits", "com.microsoft"), (node.OpType, node.Domain));
        Assert.DoesNotContain(model.Graph.Initializer, t => t.Name == "W");

        float[] x = TestModels.Random(3 * k, seed: 5);
        float[] actual = Run(model, x, 3, k);
        float[] expected = Multiply(x, BlockQuantizer.Dequantize(BlockQuantizer.Quantize(weight, k, n, bits, blockSize)), 3, k, n);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-4f * (1 + Math.Abs(expected[i])), $"element {i}: ONNX Runtime {actual[i]}, expected {expected[i]}");
    }

    [Theory]
    [InlineData(QuantizedMatMulForm.MatMulNBits, 8, 4, 0.02)]
    [InlineData(QuantizedMatMulForm.MatMulNBits, 4, 4, 0.12)]
    [InlineData(QuantizedMatMulForm.MatMulInteger, 8, 0, 0.03)]
    public void Every_form_stays_close_to_the_fp32_product(QuantizedMatMulForm form, int bits, int accuracyLevel, double maxRelativeError)
    {
        const int m = 4, k = 256, n = 64;
        float[] weight = TestModels.Random(k * n, seed: 11);
        ModelProto model = TestModels.MatMul(weight, k, n);
        GraphQuantizer.Quantize(model, new QuantizationOptions { Form = form, Bits = bits, AccuracyLevel = accuracyLevel }, "test.onnx");

        float[] x = TestModels.Random(m * k, seed: 13);
        float[] actual = Run(model, x, m, k);
        float[] exact = Multiply(x, weight, m, k, n);
        double error = Math.Sqrt(actual.Zip(exact, (a, e) => (double)(a - e) * (a - e)).Sum() / exact.Sum(e => (double)e * e));
        Assert.InRange(error, 0, maxRelativeError);
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
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int l = 0; l < k; l++)
                    sum += (double)x[i * k + l] * w[l * n + j];
                y[i * n + j] = (float)sum;
            }
        }
        return y;
    }
}
