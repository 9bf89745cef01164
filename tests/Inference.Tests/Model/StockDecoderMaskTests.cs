using Google.Protobuf;
using Onnx;
using Serverless.Inference.Model;

namespace Serverless.Inference.Tests.Model;

/// <summary>
/// The stock export (models/demo) with the decoder self-attention mask added by the engine
/// (<see cref="DecoderMaskGraph"/>) against the Python mask export of the same weights (Fixtures/tiny-join): the same
/// raw logits for joined, left-padded rows; a graph the rewrite does not recognise loads as before, without joins.
/// </summary>
[Collection(TinyModelCollection.Name)]
public sealed class StockDecoderMaskTests(TinyModels stock, JoinableTinyModels python)
{
    private static readonly int[][] Inputs = [[27, 7, 4, 754, 73, 1], [44, 1], [5, 90, 91, 92, 93, 94, 95, 96, 97, 98, 1]];

    [Fact]
    public void A_stock_export_loads_with_the_mask_added_and_can_join_a_running_batch()
    {
        foreach (var model in new[] { stock.Merged, stock.Split })
        {
            Assert.True(model.CanJoinRunningBatch);
            Assert.Null(model.JoinUnavailableReason);
            Assert.True(model.NextDecoder.InputMetadata.ContainsKey(T5Model.DecoderMaskInput));
        }
        // The files stay as they were: only the session runs the rewritten graph.
        var file = DecoderMaskGraph.TryRewriteFile(Path.Combine(TinyModels.ModelDirectory, "decoder_with_past_model.onnx"));
        Assert.NotNull(file.Model);
        using var stream = File.OpenRead(Path.Combine(TinyModels.ModelDirectory, "decoder_with_past_model.onnx"));
        Assert.DoesNotContain(ModelProto.Parser.ParseFrom(stream).Graph.Input, i => i.Name == T5Model.DecoderMaskInput);
    }

    [Fact]
    public void With_the_rewrite_turned_off_a_stock_export_cannot_join_and_says_why()
    {
        using var model = T5Model.Load(TinyModels.ModelDirectory, new ModelOptions { AddDecoderMask = false });
        Assert.False(model.CanJoinRunningBatch);
        Assert.NotNull(model.JoinUnavailableReason);
    }

    [Theory]
    [InlineData("merged")]
    [InlineData("split")]
    public void Joined_left_padded_rows_of_the_rewritten_stock_graph_give_the_python_mask_exports_logits(string layout)
    {
        var rewritten = Run(stock.Get(layout));
        var reference = Run(python.Get(layout));
        Assert.Equal(reference.Count, rewritten.Count);
        var worst = 0f;
        for (var i = 0; i < reference.Count; i++)
        {
            Assert.Equal(reference[i].Length, rewritten[i].Length);
            for (var j = 0; j < reference[i].Length; j++)
                worst = Math.Max(worst, Math.Abs(reference[i][j] - rewritten[i][j]));
        }
        Assert.True(worst <= 1e-5f, $"max |difference| {worst} over {reference.Count} steps");
    }

    [Fact]
    public void A_with_past_decoder_it_does_not_recognise_loads_as_exported_without_joins_and_says_why()
    {
        var directory = TinyModels.CopyModel(exclude: "decoder_model_merged.onnx");
        try
        {
            // An Identity between a self-attention score Add and its Softmax: a valid graph, but not the pattern it knows.
            var path = Path.Combine(directory, "decoder_with_past_model.onnx");
            ModelProto model;
            using (var stream = File.OpenRead(path))
                model = ModelProto.Parser.ParseFrom(stream);
            var softmax = model.Graph.Node.First(n => n.OpType == "Softmax");
            var identity = new NodeProto { OpType = "Identity", Name = "unrecognised", Input = { softmax.Input[0] }, Output = { "unrecognised_out" } };
            softmax.Input[0] = "unrecognised_out";
            model.Graph.Node.Insert(model.Graph.Node.IndexOf(softmax), identity);
            File.WriteAllBytes(path, model.ToByteArray());

            using var loaded = T5Model.Load(directory);
            Assert.False(loaded.CanJoinRunningBatch);
            Assert.Contains("not recognised", loaded.JoinUnavailableReason, StringComparison.Ordinal);
            Assert.False(loaded.NextDecoder.InputMetadata.ContainsKey(T5Model.DecoderMaskInput));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>
    /// Row 0 steps 5 times alone, rows 1 and 2 join (their cache left-padded by 4; row 2's prompt is longer, so the encoder
    /// side is padded too), then all three step 4 times: every step's logits, in order.
    /// </summary>
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
