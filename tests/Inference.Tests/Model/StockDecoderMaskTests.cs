using Google.Protobuf;
using Onnx;
using Serverless.Inference.Generation;
using Serverless.Inference.Model;
using Serverless.Inference.Onnx;

namespace Serverless.Inference.Tests.Model;

/// <summary>
/// The stock export (models/demo) with the decoder self-attention mask added by the engine at load
/// (<see cref="DecoderMaskGraph"/>) against the Python mask export of the same weights (Fixtures/tiny-join): the same
/// raw logits for joined, left-padded rows; the files stay as they are; a graph the rewrite does not recognise loads as
/// before, without joins, and says why.
/// </summary>
[Collection(TinyModelCollection.Name)]
public sealed class StockDecoderMaskTests(TinyModels stock, JoinableTinyModels python)
{
    private static readonly int[][] Inputs = [[27, 7, 4, 754, 73, 1], [44, 1], [5, 90, 91, 92, 93, 94, 95, 96, 97, 98, 1]];

    [Theory]
    [InlineData("merged")]
    [InlineData("split")]
    public void A_stock_export_loads_with_the_mask_added_and_can_join_a_running_batch(string layout)
    {
        var model = stock.Get(layout);
        Assert.True(model.CanJoinRunningBatch);
        Assert.Null(model.JoinUnavailableReason);
        Assert.True(model.NextDecoder.InputMetadata.ContainsKey(T5Model.DecoderMaskInput));
    }

    [Theory]
    [InlineData("decoder_model.onnx,decoder_with_past_model.onnx", "decoder_model_merged.onnx")]
    [InlineData("decoder_model_merged.onnx", "decoder_with_past_model.onnx")]
    public void Loading_leaves_the_folder_as_it_is(string unused, string rewritten)
    {
        var directory = TinyModels.CopyModel(exclude: unused);
        try
        {
            var before = Directory.GetFiles(directory).ToDictionary(f => f, File.ReadAllBytes);

            using (var model = T5Model.Load(directory))
                Assert.True(model.CanJoinRunningBatch);

            Assert.Equal(before.Keys.Order(), Directory.GetFiles(directory).Order());
            Assert.All(before, file => Assert.Equal(file.Value, File.ReadAllBytes(file.Key)));
            var graph = ModelProto.Parser.ParseFrom(before[Path.Combine(directory, rewritten)]).Graph;
            Assert.DoesNotContain(graph.Input, i => i.Name == T5Model.DecoderMaskInput);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [InlineData("decoder_model_merged.onnx")]
    [InlineData("decoder_with_past_model.onnx")]
    public void The_rewritten_graph_declares_the_mask_where_the_python_export_does(string file)
    {
        var (outcome, rewritten, _) = DecoderMaskGraph.TryRewriteFile(Path.Combine(TinyModels.ModelDirectory, file));
        var reference = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(JoinableTinyModels.ModelDirectory, file)));

        Assert.Equal(DecoderMaskGraph.Outcome.Added, outcome);
        Assert.Equal(reference.Graph.Input.Select(i => i.Name), rewritten!.Graph.Input.Select(i => i.Name));
        var mask = rewritten.Graph.Input.Single(i => i.Name == T5Model.DecoderMaskInput).Type.TensorType;
        var expected = reference.Graph.Input.Single(i => i.Name == T5Model.DecoderMaskInput).Type.TensorType;
        Assert.Equal(expected.ElemType, mask.ElemType);
        Assert.Equal(expected.Shape.Dim.Select(d => d.DimParam), mask.Shape.Dim.Select(d => d.DimParam));
    }

    [Fact]
    public void The_python_mask_export_is_recognised_as_taking_the_mask_already_and_left_alone()
    {
        var (outcome, model, reason) = DecoderMaskGraph.TryRewriteFile(Path.Combine(JoinableTinyModels.ModelDirectory, "decoder_with_past_model.onnx"));

        Assert.Equal(DecoderMaskGraph.Outcome.AlreadyTakesMask, outcome);
        Assert.Null(model);
        Assert.Null(reason);
    }

    [Fact]
    public void With_the_rewrite_turned_off_a_stock_export_cannot_join_and_says_why()
    {
        using var model = T5Model.Load(TinyModels.ModelDirectory, new ModelOptions { AddDecoderMask = false });

        Assert.False(model.CanJoinRunningBatch);
        Assert.Contains(nameof(ModelOptions.AddDecoderMask), model.JoinUnavailableReason, StringComparison.Ordinal);
        Assert.False(model.NextDecoder.InputMetadata.ContainsKey(T5Model.DecoderMaskInput));
    }

    [Theory]
    [InlineData("merged")]
    [InlineData("split")]
    public void Joined_left_padded_rows_of_the_rewritten_stock_graph_give_the_python_mask_exports_logits(string layout)
    {
        var rewritten = JoinedSteps(stock.Get(layout));
        var reference = JoinedSteps(python.Get(layout));

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

    [Theory]
    [InlineData("merged", "decoder_model.onnx,decoder_with_past_model.onnx")]
    [InlineData("split", "decoder_model_merged.onnx")]
    public void A_stock_export_with_its_weights_in_external_data_joins_with_the_same_logits(string layout, string unused)
    {
        // As `serverless model upload` stores graphs: the weights in <graph>.onnx_data beside a graph of a few hundred KB.
        // The rewritten with-past graph is then opened from memory and finds its weights through the session options.
        var directory = TinyModels.CopyModel(exclude: unused);
        try
        {
            foreach (var graph in Directory.GetFiles(directory, "*.onnx"))
                OnnxModelFile.Save(OnnxModelFile.Load(graph), graph, externalDataThreshold: 0);
            Assert.All(Directory.GetFiles(directory, "*.onnx"), graph => Assert.True(File.Exists(graph + "_data"), graph));

            using var external = T5Model.Load(directory);

            Assert.True(external.CanJoinRunningBatch, external.JoinUnavailableReason);
            var expected = JoinedSteps(stock.Get(layout));
            var actual = JoinedSteps(external);
            Assert.Equal(expected.Count, actual.Count);
            for (var i = 0; i < expected.Count; i++)
                Assert.Equal(expected[i], actual[i]);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_with_past_decoder_it_does_not_recognise_loads_as_exported_without_joins_and_says_why()
    {
        var directory = TinyModels.CopyModel(exclude: "decoder_model_merged.onnx");
        try
        {
            // An Identity between a self-attention score Add and its Softmax: a valid graph, but not the pattern it knows.
            var path = Path.Combine(directory, "decoder_with_past_model.onnx");
            var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
            var softmax = model.Graph.Node.First(n => n.OpType == "Softmax");
            var identity = new NodeProto { OpType = "Identity", Name = "unrecognised", Input = { softmax.Input[0] }, Output = { "unrecognised_out" } };
            softmax.Input[0] = "unrecognised_out";
            model.Graph.Node.Insert(model.Graph.Node.IndexOf(softmax), identity);
            File.WriteAllBytes(path, model.ToByteArray());

            using var loaded = T5Model.Load(directory);

            Assert.False(loaded.CanJoinRunningBatch);
            Assert.Contains("was not recognised", loaded.JoinUnavailableReason, StringComparison.Ordinal);
            Assert.Contains("found 1 self-attention score Adds", loaded.JoinUnavailableReason, StringComparison.Ordinal);
            Assert.False(loaded.NextDecoder.InputMetadata.ContainsKey(T5Model.DecoderMaskInput));
            // As exported, it still generates: the goldens' first case, token for token.
            var golden = TinyModels.Goldens().GetProperty("greedy")[0];
            var result = await loaded.GenerateAsync([TinyModels.Ints(golden.GetProperty("input_ids"))],
                new GenerationOptions { MaxNewTokens = golden.GetProperty("max_new_tokens").GetInt32() });
            Assert.Equal(TinyModels.Ints(golden.GetProperty("output_ids")), result[0].OutputIds);
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
    internal static List<float[]> JoinedSteps(T5Model model)
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
