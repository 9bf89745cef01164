using Serverless.Inference.Model;

namespace Serverless.Inference.Tests.Model;

/// <summary>
/// <see cref="DecoderStepper.Absorb"/> and the cache trimming of <see cref="DecoderStepper.Compact"/> on the export with a
/// decoder self-attention mask: the raw logits of joined, padded rows against the same prompts stepped alone.
/// </summary>
[Collection(TinyModelCollection.Name)]
public sealed class DecoderStepperJoinTests(JoinableTinyModels models)
{
    private static readonly int[][] Inputs = [[27, 7, 4, 754, 73, 1], [44, 1], [5, 90, 91, 92, 93, 94, 95, 96, 97, 98, 1]];

    [Theory]
    [InlineData("merged")]
    [InlineData("split")]
    public void Joined_rows_step_as_they_do_alone_and_columns_older_than_every_kept_row_are_trimmed(string layout)
    {
        var model = models.Get(layout);
        // Fixed decoder inputs per row and step, so every row sees the same tokens joined or alone.
        long Token(int row, int step) => step == 0 ? model.Config.DecoderStartTokenId : 3 + (row * 31 + step * 7) % 500;
        var alone = Inputs.Select((_, r) => StepAlone(model, r, 12, Token)).ToArray();

        using var batch = Start(model, [0]);
        batch.InputIds[0] = Token(0, 0);
        Assert.Equal(alone[0][0], batch.Step().ToArray());
        for (var step = 1; step <= 4; step++)
        {
            batch.InputIds[0] = Token(0, step);
            Assert.Equal(alone[0][step], batch.Step().ToArray(), Close);
        }

        // Rows 1 and 2 (one longer prompt than row 0) join after row 0's 5th step: their cache is left-padded by 4.
        var joining = Start(model, [1, 2]);
        joining.InputIds.Fill(model.Config.DecoderStartTokenId);
        var first = joining.Step().ToArray();
        batch.Absorb(joining, [0]);
        Assert.Equal(5, batch.CacheLength);
        var vocab = model.Config.VocabSize;
        Assert.Equal(alone[1][0], first[..vocab], Close);
        Assert.Equal(alone[2][0], first[vocab..], Close);
        for (var step = 1; step <= 4; step++)
        {
            batch.InputIds[0] = Token(0, step + 4);
            batch.InputIds[1] = Token(1, step);
            batch.InputIds[2] = Token(2, step);
            var logits = batch.Step().ToArray();
            Assert.Equal(alone[0][step + 4], logits[..vocab], Close);
            Assert.Equal(alone[1][step], logits[vocab..(2 * vocab)], Close);
            Assert.Equal(alone[2][step], logits[(2 * vocab)..], Close);
        }

        // Row 0 leaves: the 5 columns only it used go, and with the longest prompt (row 2) kept, the encoder side stays.
        Assert.Equal(9, batch.CacheLength);
        batch.Compact([1, 2]);
        Assert.Equal(5, batch.CacheLength);
        for (var step = 5; step <= 7; step++)
        {
            batch.InputIds[0] = Token(1, step);
            batch.InputIds[1] = Token(2, step);
            var logits = batch.Step().ToArray();
            Assert.Equal(alone[1][step], logits[..vocab], Close);
            Assert.Equal(alone[2][step], logits[vocab..], Close);
        }
    }

    private static readonly IEqualityComparer<float> Close = EqualityComparer<float>.Create((a, b) => Math.Abs(a - b) <= 1e-4f, _ => 0);

    private static DecoderStepper Start(T5Model model, int[] rows)
    {
        var (hidden, mask) = EncoderRun.Run(model, rows.Select(r => Inputs[r]).ToArray(), 1, out _);
        return new DecoderStepper(model, rows.Length, hidden, mask);
    }

    private static float[][] StepAlone(T5Model model, int row, int steps, Func<int, int, long> token)
    {
        using var stepper = Start(model, [row]);
        var logits = new float[steps][];
        for (var step = 0; step < steps; step++)
        {
            stepper.InputIds[0] = token(row, step);
            logits[step] = stepper.Step().ToArray();
        }
        return logits;
    }
}
