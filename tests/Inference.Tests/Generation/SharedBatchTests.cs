using Serverless.Inference.Generation;
using Serverless.Inference.Model;
using Serverless.Inference.Tests.Model;

namespace Serverless.Inference.Tests.Generation;

/// <summary>
/// Shared decode batches (<see cref="RowSet"/>): prompts with their own parameters in one batch, rows leaving as they
/// finish, and every row equal to its prompt run alone.
/// </summary>
[Collection(TinyModelCollection.Name)]
public sealed class SharedBatchTests(TinyModels models)
{
    internal static readonly string[] Prompts =
    [
        "Where is Ganymede located in the solar system?",
        "a",
        "the red fox jumps over the lazy dog",
        "Translate to German: How old are you?",
        "Summarize: the meeting moved to Thursday because the room was booked.",
        "1 2 3 4 5 6 7 8 9 10",
        "Question: what colour is the sky? Answer:",
        "hello",
    ];

    /// <summary>Greedy and sampled rows with different limits, seeds, warpers, penalties and stop strings.</summary>
    internal static GenerationOptions[] MixedOptions() =>
    [
        new() { MaxNewTokens = 3 },
        new() { MaxNewTokens = 20, MinNewTokens = 20 },
        new() { DoSample = true, Seed = 7, TopK = 20, TopP = 0.9, Temperature = 0.8, MaxNewTokens = 9 },
        new() { MaxNewTokens = 14, RepetitionPenalty = 1.3, NoRepeatNgramSize = 2 },
        new() { DoSample = true, Seed = 11, Temperature = 1.4, MaxNewTokens = 17, MinNewTokens = 5 },
        new() { MaxNewTokens = 6 },
        new() { DoSample = true, Seed = 3, TopK = 0, TopP = 0.5, MaxNewTokens = 24, MinNewTokens = 24 },
        new() { MaxNewTokens = 12, StopStrings = ["e"] },
    ];

    [Theory]
    [InlineData("merged")]
    [InlineData("split")]
    public async Task Mixed_rows_equal_each_prompt_run_alone(string layout)
    {
        var model = models.Get(layout);
        var options = MixedOptions();
        var batch = Prompts.Select((p, i) => BatchPrompt.FromText(p, options[i])).ToArray();

        var outcomes = model.RunRowSet(batch);

        for (var i = 0; i < Prompts.Length; i++)
        {
            var alone = (await model.GenerateAsync([Prompts[i]], options[i]))[0];
            var shared = Assert.IsType<GenerationResult>(outcomes[i].Result);
            Assert.Equal(alone.OutputIds, shared.OutputIds);
            Assert.Equal(alone.Text, shared.Text);
            Assert.Equal(alone.FinishReason, shared.FinishReason);
        }
        // The rows left at different steps, so the batch shrank on the way (the limits differ).
        Assert.Equal(3, outcomes[0].Result!.OutputTokens);
        Assert.Equal(24, outcomes[6].Result!.OutputTokens);
    }

    [Fact]
    public void Rows_are_reported_as_they_finish()
    {
        int[] limits = [16, 2, 8, 4];
        var order = new List<int>();
        var batch = limits.Select((n, i) => BatchPrompt.FromText(Prompts[i], new GenerationOptions { MaxNewTokens = n, MinNewTokens = n })).ToArray();

        models.Merged.RunRowSet(batch, (index, _) => order.Add(index));

        Assert.Equal([1, 3, 2, 0], order);
    }

    [Fact]
    public async Task A_prompt_that_cannot_run_fails_alone_and_the_others_run()
    {
        var greedy = new GenerationOptions { MaxNewTokens = 10 };
        int[] tooLong = [.. Enumerable.Repeat(5, 600), 1];
        BatchPrompt[] batch =
        [
            BatchPrompt.FromText(Prompts[0], greedy),
            BatchPrompt.FromIds(tooLong, greedy),
            BatchPrompt.FromIds([5, 99999, 1], greedy),
            BatchPrompt.FromText(Prompts[2], greedy with { NumBeams = 2 }),
            BatchPrompt.FromText(Prompts[3], greedy with { TopP = 2 }),
            BatchPrompt.FromText(Prompts[4], greedy),
        ];

        var outcomes = models.Split.RunRowSet(batch);

        Assert.Equal(600 + 1, Assert.IsType<PromptTooLongException>(outcomes[1].Error).TokenCount);
        Assert.Contains("99999", Assert.IsType<ArgumentException>(outcomes[2].Error).Message);
        Assert.Contains("num_beams", Assert.IsType<ArgumentException>(outcomes[3].Error).Message);
        Assert.Contains("top_p", Assert.IsType<InvalidGenerationOptionsException>(outcomes[4].Error).Message);
        foreach (var i in new[] { 0, 5 })
        {
            Assert.Null(outcomes[i].Error);
            Assert.Equal((await models.Split.GenerateAsync([batch[i].Text!], greedy))[0].OutputIds, outcomes[i].Result!.OutputIds);
        }
    }

    [Fact]
    public async Task A_cancelled_prompt_leaves_without_disturbing_the_others()
    {
        var forced = new GenerationOptions { MaxNewTokens = 20, MinNewTokens = 20 };
        using var early = new CancellationTokenSource();
        using var before = new CancellationTokenSource();
        before.Cancel();
        BatchPrompt[] batch =
        [
            BatchPrompt.FromText(Prompts[0], forced),
            BatchPrompt.FromText(Prompts[1], forced, early.Token),
            BatchPrompt.FromText(Prompts[2], new GenerationOptions { MaxNewTokens = 2 }),
            BatchPrompt.FromText(Prompts[3], forced, before.Token),
            BatchPrompt.FromText(Prompts[4], forced with { DoSample = true, Seed = 5 }),
        ];

        // Cancel prompt 1 while the batch runs: when prompt 2 (two tokens) is done.
        var outcomes = models.Merged.RunRowSet(batch, (index, _) =>
        {
            if (index == 2)
                early.Cancel();
        });

        Assert.Equal(FinishReason.Cancelled, outcomes[1].Result!.FinishReason);
        Assert.InRange(outcomes[1].Result!.OutputTokens, 1, 19);
        Assert.Equal(FinishReason.Cancelled, outcomes[3].Result!.FinishReason);
        Assert.Equal(0, outcomes[3].Result!.OutputTokens);
        foreach (var i in new[] { 0, 2, 4 })
            Assert.Equal((await models.Merged.GenerateAsync([Prompts[i]], batch[i].Options))[0].OutputIds, outcomes[i].Result!.OutputIds);
    }

    [Fact]
    public void More_prompts_than_the_row_limit_are_refused()
    {
        using var small = T5Model.Load(TinyModels.ModelDirectory, new ModelOptions { MaxBatchRows = 2 });
        var batch = Prompts.Take(3).Select(p => BatchPrompt.FromText(p, new GenerationOptions())).ToArray();
        Assert.Contains("MaxBatchRows", Assert.Throws<ArgumentException>(() => new RowSet(small).Prefill(batch)).Message);
    }
}
