using Serverless.Inference.Model;

namespace Serverless.Quantization.Tests;

/// <summary>
/// The engine's decoder-mask rewrite (<see cref="DecoderMaskGraph"/>) on quantized stock exports: the quantized demo
/// model joins a running batch, with the raw logits of the quantized Python mask export (the same weights quantized
/// the same way) for joined, left-padded rows.
/// </summary>
public class QuantizedDecoderMaskTests
{
    private static readonly int[][] Inputs = [[27, 7, 4, 754, 73, 1], [44, 1], [5, 90, 91, 92, 93, 94, 95, 96, 97, 98, 1]];

    [Theory]
    [InlineData("merged", QuantizedMatMulForm.MatMulNBits)]
    [InlineData("split", QuantizedMatMulForm.MatMulNBits)]
    [InlineData("merged", QuantizedMatMulForm.MatMulInteger)]
    [InlineData("split", QuantizedMatMulForm.MatMulInteger)]
    public async Task A_quantized_stock_export_joins_with_the_logits_of_the_quantized_python_mask_export(string layout, QuantizedMatMulForm form)
    {
        var unused = layout == "merged" ? new[] { "decoder_model.onnx", "decoder_with_past_model.onnx" } : ["decoder_model_merged.onnx"];
        var stock = TestModels.CopyDemo(unused);
        var python = TestModels.CopyDemo(unused);
        try
        {
            foreach (var file in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny-join"), "*.onnx"))
            {
                if (!unused.Contains(Path.GetFileName(file)))
                    File.Copy(file, Path.Combine(python, Path.GetFileName(file)), overwrite: true);
            }
            var options = new QuantizationOptions { Form = form };
            await ExportQuantizer.QuantizeAsync(stock, null, options);
            await ExportQuantizer.QuantizeAsync(python, null, options);

            using var rewritten = T5Model.Load(stock, new ModelOptions { UseQuantized = true });
            using var reference = T5Model.Load(python, new ModelOptions { UseQuantized = true });
            // The quantized graphs are the ones loaded, and the stock one joins only through the rewrite.
            Assert.EndsWith("_quantized.onnx", rewritten.Files.MergedDecoder ?? rewritten.Files.DecoderWithPast, StringComparison.Ordinal);
            Assert.True(rewritten.CanJoinRunningBatch, rewritten.JoinUnavailableReason);
            Assert.True(reference.CanJoinRunningBatch);
            using (var asExported = T5Model.Load(stock, new ModelOptions { UseQuantized = true, AddDecoderMask = false }))
                Assert.False(asExported.CanJoinRunningBatch);
            var a = Run(rewritten);
            var b = Run(reference);
            Assert.Equal(b.Count, a.Count);
            var worst = 0f;
            for (var i = 0; i < a.Count; i++)
            {
                for (var j = 0; j < a[i].Length; j++)
                    worst = Math.Max(worst, Math.Abs(a[i][j] - b[i][j]));
            }
            Assert.True(worst <= 1e-5f, $"max |difference| {worst}");
        }
        finally
        {
            Directory.Delete(stock, recursive: true);
            Directory.Delete(python, recursive: true);
        }
    }

    /// <summary>Row 0 steps 5 times alone, rows 1 and 2 join (cache left-padded by 4), then all three step 4 times.</summary>
    private static List<float[]> Run(T5Model model)
    {
        long Token(int row, int step) => step == 0 ? model.Config.DecoderStartTokenId : 3 + (row * 31 + step * 7) % 500;
        var steps = new List<float[]>();
        using var batch = Start(model, [0]);
        for (var step = 0; step <= 4; step++)
        {
            batch.InputIds[0] = Token(0, step);
            steps.Add(batch.Step().ToArray());
        }
        var joining = Start(model, [1, 2]);
        joining.InputIds.Fill(model.Config.DecoderStartTokenId);
        steps.Add(joining.Step().ToArray());
        batch.Absorb(joining, [0]);
        for (var step = 1; step <= 4; step++)
        {
            batch.InputIds[0] = Token(0, step + 4);
            batch.InputIds[1] = Token(1, step);
            batch.InputIds[2] = Token(2, step);
            steps.Add(batch.Step().ToArray());
        }
        return steps;
    }

    private static DecoderStepper Start(T5Model model, int[] rows)
    {
        var (hidden, mask) = EncoderRun.Run(model, rows.Select(r => Inputs[r]).ToArray(), 1, out _);
        return new DecoderStepper(model, rows.Length, hidden, mask);
    }
}
