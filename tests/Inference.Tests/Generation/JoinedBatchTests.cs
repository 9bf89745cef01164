using Serverless.Inference.Generation;
using Serverless.Inference.Model;
using Serverless.Inference.Tests.Model;

namespace Serverless.Inference.Tests.Generation;

/// <summary>
/// Continuous batching: prompts that join a running decode batch between steps give exactly what each prompt gives alone,
/// on the Python export with a decoder self-attention mask and on the stock export the engine adds the mask to at load;
/// a model without the mask never takes joiners.
/// </summary>
[Collection(TinyModelCollection.Name)]
public sealed class JoinedBatchTests(JoinableTinyModels python, TinyModels stock)
{
    private MergedAndSplitModels Export(string export) => export == "stock" ? stock : python;

    // The prompts and mixed parameters of the shared-batch tests: limits of 3 to 24 tokens, so rows leave at different steps.
    private static readonly string[] Prompts = SharedBatchTests.Prompts;

    private static GenerationOptions[] MixedOptions() => SharedBatchTests.MixedOptions();

    [Fact]
    public void The_export_with_a_decoder_mask_can_join_a_running_batch_and_a_stock_export_run_as_exported_cannot()
    {
        Assert.True(python.Merged.CanJoinRunningBatch);
        Assert.True(python.Split.CanJoinRunningBatch);
        // A stock export joins through the engine's rewrite (Model/StockDecoderMaskTests); as exported it cannot.
        using var asExported = T5Model.Load(TinyModels.ModelDirectory, new ModelOptions { AddDecoderMask = false });
        Assert.False(asExported.CanJoinRunningBatch);
    }

    [Theory]
    [InlineData("python", "merged")]
    [InlineData("python", "split")]
    [InlineData("stock", "merged")]
    [InlineData("stock", "split")]
    public async Task Prompts_that_join_at_different_steps_equal_each_prompt_run_alone(string export, string layout)
    {
        var model = Export(export).Get(layout);
        var options = MixedOptions();
        var prompts = Prompts.Select((p, i) => BatchPrompt.FromText(p, options[i])).ToArray();
        // Two rows start (one forced to 20 tokens); the others join after the 1st, 2nd, 5th and 9th steps, one of them (4)
        // a longer prompt than any running one, so both the decoder cache and the encoder side get padded.
        var schedule = new Dictionary<int, BatchPrompt[]>
        {
            [1] = [prompts[2]],
            [2] = [prompts[3], prompts[4]],
            [5] = [prompts[5]],
            [9] = [prompts[6], prompts[7]],
        };
        var calls = 0;
        var asked = new List<int>();

        var outcomes = model.RunRowSet(prompts[..2], null, free =>
        {
            asked.Add(free);
            return schedule.TryGetValue(++calls, out var joining) ? joining : [];
        });

        Assert.Equal(Prompts.Length, outcomes.Count);
        for (var i = 0; i < Prompts.Length; i++)
        {
            var alone = (await model.GenerateAsync([Prompts[i]], options[i]))[0];
            var joined = Assert.IsType<GenerationResult>(outcomes[i].Result);
            Assert.Equal(alone.OutputIds, joined.OutputIds);
            Assert.Equal(alone.Text, joined.Text);
            Assert.Equal(alone.FinishReason, joined.FinishReason);
        }
        Assert.True(calls >= 9, $"join was asked {calls} times");
        Assert.All(asked, free => Assert.InRange(free, 1, model.Options.MaxBatchRows));
    }

    [Theory]
    [InlineData("python", "merged")]
    [InlineData("python", "split")]
    [InlineData("stock", "merged")]
    [InlineData("stock", "split")]
    public void Greedy_goldens_come_out_token_for_token_when_each_joins_a_running_batch(string export, string layout)
    {
        var model = Export(export).Get(layout);
        var cases = TinyModels.Goldens().GetProperty("greedy").EnumerateArray().ToArray();
        var prompts = cases.Select(c => BatchPrompt.FromIds(TinyModels.Ints(c.GetProperty("input_ids")),
            new GenerationOptions { MaxNewTokens = c.GetProperty("max_new_tokens").GetInt32() })).ToArray();
        // One starts; one more joins after every step while any are left, so rows of every age share the steps and the
        // oldest leave (their cache columns trimmed) while younger ones run on.
        var next = 1;

        var outcomes = model.RunRowSet(prompts[..1], null, free => next < prompts.Length ? [prompts[next++]] : []);

        Assert.Equal(prompts.Length, next);
        for (var i = 0; i < cases.Length; i++)
        {
            var expected = TinyModels.Ints(cases[i].GetProperty("output_ids"));
            Assert.Equal(expected, outcomes[i].Result!.OutputIds);
        }
    }

    [Fact]
    public async Task A_long_stream_of_joining_prompts_through_four_rows_equals_each_run_alone()
    {
        using var model = T5Model.Load(JoinableTinyModels.ModelDirectory, new ModelOptions { MaxBatchRows = 4 });
        var random = new Random(5);
        var prompts = Enumerable.Range(0, 40).Select(i =>
        {
            var text = string.Join(' ', Enumerable.Range(0, random.Next(1, 40)).Select(_ => Prompts[random.Next(Prompts.Length)].Split(' ')[0]));
            var options = i % 3 == 0
                ? new GenerationOptions { DoSample = true, Seed = (ulong)i, TopK = 30, MaxNewTokens = random.Next(1, 25) }
                : new GenerationOptions { MaxNewTokens = random.Next(1, 25) };
            return BatchPrompt.FromText(text, options);
        }).ToArray();
        var next = 4;
        var widest = 0;

        var outcomes = model.RunRowSet(prompts[..4], null, free =>
        {
            widest = Math.Max(widest, free);
            var take = Math.Min(free, prompts.Length - next);
            var joining = prompts[next..(next + take)];
            next += take;
            return joining;
        });

        Assert.Equal(prompts.Length, next);
        Assert.InRange(widest, 1, 4);
        for (var i = 0; i < prompts.Length; i++)
        {
            var alone = (await model.GenerateAsync([prompts[i].Text!], prompts[i].Options))[0];
            Assert.Equal(alone.OutputIds, outcomes[i].Result!.OutputIds);
        }
    }

    [Fact]
    public void A_model_without_the_mask_refuses_rows_into_a_running_batch_and_runs_its_batch_as_given()
    {
        using var asExported = T5Model.Load(TinyModels.ModelDirectory, new ModelOptions { AddDecoderMask = false });
        using var set = new RowSet(asExported);
        var options = new GenerationOptions { MaxNewTokens = 8, MinNewTokens = 8 };

        Assert.Empty(set.Admit([BatchPrompt.FromText(Prompts[0], options)]));
        using var joining = set.Prefill([BatchPrompt.FromText(Prompts[1], options)]);

        Assert.False(set.CanJoin);
        Assert.Contains("CanJoinRunningBatch", Assert.Throws<InvalidOperationException>(() => set.Absorb(joining)).Message);
        var done = new List<RowOutcome>();
        while (set.ActiveRows > 0)
            done.AddRange(set.Step());
        Assert.Equal(8, Assert.Single(done).Result!.OutputTokens);
    }

    [Fact]
    public void A_joining_prompt_that_cannot_run_fails_alone_and_a_cancelled_one_leaves_without_disturbing_the_others()
    {
        var model = python.Merged;
        var options = new GenerationOptions { MaxNewTokens = 12, MinNewTokens = 12 };
        using var cancel = new CancellationTokenSource();
        var tooLong = string.Join(' ', Enumerable.Range(0, 700).Select(i => $"w{i}"));
        var calls = 0;
        var outcomes = model.RunRowSet([BatchPrompt.FromText(Prompts[0], options)], null, _ => ++calls switch
        {
            1 => [BatchPrompt.FromText(tooLong, options), BatchPrompt.FromText(Prompts[2], options, cancel.Token)],
            2 => [BatchPrompt.FromText(Prompts[3], options)],
            4 => Cancel(),
            _ => [],
        });

        Assert.IsType<PromptTooLongException>(outcomes[1].Error);
        Assert.Equal(FinishReason.Cancelled, outcomes[2].Result!.FinishReason);
        Assert.InRange(outcomes[2].Result!.OutputTokens, 1, 11);
        Assert.Equal(model.Generate([model.Tokenizer.Encode(Prompts[0], addEndOfSentence: true)], options)[0].OutputIds, outcomes[0].Result!.OutputIds);
        Assert.Equal(model.Generate([model.Tokenizer.Encode(Prompts[3], addEndOfSentence: true)], options)[0].OutputIds, outcomes[3].Result!.OutputIds);

        IReadOnlyList<BatchPrompt> Cancel()
        {
            cancel.Cancel();
            return [];
        }
    }

    [Fact]
    public void A_running_set_refuses_more_prompts_than_it_has_free_rows()
    {
        using var model = T5Model.Load(JoinableTinyModels.ModelDirectory, new ModelOptions { MaxBatchRows = 2 });
        var options = new GenerationOptions { MaxNewTokens = 5, MinNewTokens = 5 };
        using var set = new RowSet(model);
        set.Admit([BatchPrompt.FromText(Prompts[0], options)]);

        var e = Assert.Throws<ArgumentException>(() => set.Prefill([BatchPrompt.FromText(Prompts[1], options), BatchPrompt.FromText(Prompts[2], options)]));

        Assert.Contains("MaxBatchRows", e.Message);
        Assert.Equal(1, set.FreeRows);
    }
}
