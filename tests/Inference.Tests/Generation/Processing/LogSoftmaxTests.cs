using Serverless.Inference.Generation.Processing;

namespace Serverless.Inference.Tests.Generation.Processing;

/// <summary>Log-probabilities of a row of scores: normalised, most likely first, and stable for large and banned scores.</summary>
public sealed class LogSoftmaxTests
{
    [Fact]
    public void Hand_computed_log_probabilities_of_a_small_row()
    {
        // log(e^1 + e^2 + e^3) = 3.40760596...
        var step = LogSoftmax.Of([1f, 2f, 3f], chosen: 1, top: 2);

        Assert.Equal(2f - 3.40760596f, step.Chosen.LogProb, 5);
        Assert.Equal(1, step.Chosen.Id);
        Assert.Equal([2, 1], step.Top.Select(t => t.Id));
        Assert.Equal(3f - 3.40760596f, step.Top[0].LogProb, 5);
        Assert.Equal(step.Chosen.LogProb, step.Top[1].LogProb);
    }

    [Fact]
    public void The_probabilities_of_the_whole_row_sum_to_one()
    {
        var random = new Random(3);
        var row = Enumerable.Range(0, 1000).Select(_ => (float)(random.NextDouble() * 40 - 20)).ToArray();

        var step = LogSoftmax.Of(row, chosen: 0, top: row.Length);

        Assert.Equal(1.0, step.Top.Sum(t => Math.Exp(t.LogProb)), 4);
        Assert.Equal(row.Length, step.Top.Count);
        Assert.True(step.Top.Zip(step.Top.Skip(1)).All(p => p.First.LogProb >= p.Second.LogProb), "not most likely first");
    }

    [Fact]
    public void Large_scores_do_not_overflow_and_ties_list_the_lower_id_first()
    {
        var step = LogSoftmax.Of([1000f, 1000f, 999f], chosen: 1, top: 2);

        Assert.Equal((float)-Math.Log(2 + Math.Exp(-1)), step.Chosen.LogProb, 5);
        Assert.Equal([0, 1], step.Top.Select(t => t.Id));
    }

    [Fact]
    public void Banned_and_nan_scores_have_no_probability_and_do_not_count()
    {
        var step = LogSoftmax.Of([float.NegativeInfinity, 0f, float.NaN, 0f], chosen: 0, top: 3);

        Assert.Equal(float.NegativeInfinity, step.Chosen.LogProb);
        Assert.Equal((float)-Math.Log(2), step.Top[0].LogProb, 6);
        Assert.Equal([1, 3], step.Top.Take(2).Select(t => t.Id));
        Assert.Equal(float.NegativeInfinity, step.Top[2].LogProb);
    }

    [Fact]
    public void Zero_alternatives_still_give_the_chosen_tokens_log_probability()
    {
        var step = LogSoftmax.Of([0f, 0f, 0f, 0f], chosen: 2, top: 0);

        Assert.Empty(step.Top);
        Assert.Equal((float)-Math.Log(4), step.Chosen.LogProb, 6);
    }
}
