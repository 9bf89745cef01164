using Serverless.Inference.Generation;
using Serverless.Inference.Model;
using Serverless.Inference.Tests.Model;

namespace Serverless.Inference.Tests.Generation;

/// <summary>Sampling, truncation, option errors, stop strings, streaming, cancellation and concurrency on the tiny model.</summary>
[Collection(TinyModelCollection.Name)]
public sealed class GenerationBehaviourTests(TinyModels models)
{
    private const string Prompt = "Where is Ganymede located in the solar system?";

    private static int[] LongIds(int count)
    {
        // Ordinary pieces (ids 3..999) and a final </s>, different at the start and the end so truncation shows.
        var ids = new int[count];
        for (var i = 0; i < count - 1; i++)
            ids[i] = 3 + (i * 37 % 997);
        ids[^1] = 1;
        return ids;
    }

    [Fact]
    public async Task Seeded_sampling_is_reproducible_and_seeds_differ()
    {
        var options = new GenerationOptions { DoSample = true, Seed = 42, MaxNewTokens = 24, MinNewTokens = 24 };
        var a = (await models.Merged.GenerateAsync([Prompt], options))[0];
        var b = (await models.Split.GenerateAsync([Prompt], options))[0];
        Assert.Equal(a.OutputIds, b.OutputIds);
        Assert.Equal(24, a.OutputTokens);

        var outputs = new HashSet<string>();
        for (ulong seed = 1; seed <= 4; seed++)
        {
            var r = (await models.Merged.GenerateAsync([Prompt], options with { Seed = seed }))[0];
            outputs.Add(string.Join(',', r.OutputIds));
        }
        Assert.True(outputs.Count > 1, "four different seeds gave the same sample");
        var greedy = (await models.Merged.GenerateAsync([Prompt], new GenerationOptions { MaxNewTokens = 24, MinNewTokens = 24 }))[0];
        Assert.DoesNotContain(string.Join(',', greedy.OutputIds), outputs);
    }

    [Fact]
    public async Task Sampled_batch_rows_equal_single_runs_with_the_same_seed()
    {
        var options = new GenerationOptions { DoSample = true, Seed = 7, TopK = 20, TopP = 0.9, Temperature = 0.8, MaxNewTokens = 16 };
        string[] prompts = [Prompt, "a", "the red fox jumps over the lazy dog"];
        var batch = await models.Merged.GenerateAsync(prompts, options);
        for (var i = 0; i < prompts.Length; i++)
            Assert.Equal((await models.Merged.GenerateAsync([prompts[i]], options))[0].OutputIds, batch[i].OutputIds);
    }

    [Fact]
    public async Task Prompt_longer_than_the_window_is_rejected_with_count_and_limit()
    {
        var e = await Assert.ThrowsAsync<PromptTooLongException>(() => models.Merged.GenerateAsync([LongIds(600)], new GenerationOptions()));
        Assert.Equal(600, e.TokenCount);
        Assert.Equal(512, e.Limit);
        Assert.Contains("600", e.Message);
        Assert.Contains("512", e.Message);

        // Exactly the window is fine.
        var ok = (await models.Merged.GenerateAsync([LongIds(512)], new GenerationOptions { MaxNewTokens = 2 }))[0];
        Assert.Equal(512, ok.InputTokens);
        Assert.Equal(0, ok.TokensTruncated);
    }

    [Theory]
    [InlineData("merged")]
    [InlineData("split")]
    public async Task Truncation_keep_start_and_keep_end(string layout)
    {
        var model = models.Get(layout);
        var ids = LongIds(600);
        var options = new GenerationOptions { MaxNewTokens = 8 };

        var start = (await model.GenerateAsync([ids], options with { Truncation = Truncation.KeepStart }))[0];
        Assert.Equal(88, start.TokensTruncated);
        Assert.Equal(512, start.InputTokens);
        int[] kept = [.. ids[..511], 1];
        Assert.Equal((await model.GenerateAsync([kept], options))[0].OutputIds, start.OutputIds);

        var end = (await model.GenerateAsync([ids], options with { Truncation = Truncation.KeepEnd }))[0];
        Assert.Equal(88, end.TokensTruncated);
        Assert.Equal((await model.GenerateAsync([ids[^512..]], options))[0].OutputIds, end.OutputIds);
        Assert.NotEqual(start.OutputIds, end.OutputIds);
    }

    [Fact]
    public async Task Prompt_too_long_error_carries_the_index_of_the_prompt_in_the_call()
    {
        var e = await Assert.ThrowsAsync<PromptTooLongException>(() =>
            models.Merged.GenerateAsync([LongIds(10), LongIds(20), LongIds(600)], new GenerationOptions { MaxNewTokens = 2 }));
        Assert.Equal(2, e.PromptIndex);
        Assert.Equal(600, e.TokenCount);
    }

    [Fact]
    public async Task Text_prompt_too_long_is_rejected_before_decoding()
    {
        var text = string.Join(' ', Enumerable.Repeat("the red fox jumps over the lazy dog", 200));
        var tokens = models.Merged.Tokenizer.Encode(text).Length;
        Assert.True(tokens > 512);
        var e = await Assert.ThrowsAsync<PromptTooLongException>(() => models.Merged.GenerateAsync([text], new GenerationOptions()));
        Assert.Equal(tokens, e.TokenCount);
    }

    [Fact]
    public async Task Invalid_options_are_all_reported()
    {
        var bad = new GenerationOptions { MaxNewTokens = 0, Temperature = -1 };
        var e = await Assert.ThrowsAsync<InvalidGenerationOptionsException>(() => models.Merged.GenerateAsync([Prompt], bad));
        Assert.Contains(e.Errors, x => x.Parameter == "max_new_tokens");
        Assert.Contains(e.Errors, x => x.Parameter == "temperature");
        // One message names each parameter once: "max_new_tokens must be ...; temperature must be ...".
        Assert.Equal(string.Join("; ", e.Errors.Select(x => x.Message)), e.Message);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(e.Message, "max_new_tokens"));

        using var capped = T5Model.Load(TinyModels.ModelDirectory, new ModelOptions { MaxNewTokensCeiling = 16 });
        var over = await Assert.ThrowsAsync<InvalidGenerationOptionsException>(() => capped.GenerateAsync([Prompt], new GenerationOptions { MaxNewTokens = 17 }));
        Assert.Contains(over.Errors, x => x.Parameter == "max_new_tokens");
        Assert.Throws<InvalidGenerationOptionsException>(() => capped.StreamAsync(Prompt, new GenerationOptions { NumBeams = 0 }));
    }

    [Fact]
    public async Task Result_reports_counts_text_and_timings()
    {
        var r = (await models.Merged.GenerateAsync([Prompt], new GenerationOptions { MaxNewTokens = 12, MinNewTokens = 12 }))[0];
        Assert.Equal(12, r.OutputTokens);
        Assert.Equal(12, r.OutputIds.Count);
        Assert.Equal(FinishReason.Length, r.FinishReason);
        Assert.Equal(models.Merged.Tokenizer.Encode(Prompt).Length, r.InputTokens);
        Assert.Equal(512, r.ContextWindow);
        Assert.Equal(models.Merged.Tokenizer.Decode(r.OutputIds.ToArray()), r.Text);
        Assert.True(r.Timings.FirstToken > TimeSpan.Zero && r.Timings.FirstToken <= r.Timings.Total);
        Assert.True(r.Timings.Encode > TimeSpan.Zero && r.Timings.InsideRun >= r.Timings.Encode);
        Assert.True(r.TokensPerSecond > 0);
    }

    /// <summary>A stop string taken from the middle of the unconstrained completion.</summary>
    private async Task<(string Full, string Stop)> StopFromMiddle(GenerationOptions options)
    {
        var full = (await models.Merged.GenerateAsync([Prompt], options))[0].Text;
        Assert.True(full.Length > 12, $"completion too short to cut: '{full}'");
        return (full, full.Substring(full.Length / 2, 3));
    }

    [Fact]
    public async Task Stop_string_cuts_the_text_and_ends_generation()
    {
        var options = new GenerationOptions { MaxNewTokens = 40, MinNewTokens = 40 };
        var (full, stop) = await StopFromMiddle(options);
        var r = (await models.Merged.GenerateAsync([Prompt], options with { MinNewTokens = 0, StopStrings = [stop] }))[0];
        Assert.Equal(FinishReason.Stop, r.FinishReason);
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], r.Text);
        Assert.True(r.OutputTokens < 40);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Streamed_pieces_concatenate_to_the_full_text(bool withStop)
    {
        var options = new GenerationOptions { MaxNewTokens = 40, MinNewTokens = 40 };
        string expected;
        if (withStop)
        {
            var (full, stop) = await StopFromMiddle(options);
            options = options with { MinNewTokens = 0, StopStrings = [stop] };
            expected = full[..full.IndexOf(stop, StringComparison.Ordinal)];
        }
        else
        {
            expected = (await models.Merged.GenerateAsync([Prompt], options))[0].Text;
        }
        var pieces = new List<string>();
        await foreach (var piece in models.Split.StreamAsync(Prompt, options))
            pieces.Add(piece);
        Assert.True(pieces.Count > 3, $"expected many pieces, got {pieces.Count}");
        Assert.All(pieces, p => Assert.NotEmpty(p));
        Assert.Equal(expected, string.Concat(pieces));
    }

    [Fact]
    public async Task Stream_surfaces_errors_of_the_decode_thread()
    {
        await Assert.ThrowsAsync<PromptTooLongException>(async () =>
        {
            await foreach (var _ in models.Merged.StreamAsync(LongIds(513), new GenerationOptions()))
            {
            }
        });
    }

    [Fact]
    public async Task Beam_search_streams_its_text_in_one_piece()
    {
        var options = new GenerationOptions { NumBeams = 3, MaxNewTokens = 12 };
        var expected = (await models.Merged.GenerateAsync([Prompt], options))[0].Text;
        var pieces = new List<string>();
        await foreach (var piece in models.Merged.StreamAsync(Prompt, options))
            pieces.Add(piece);
        Assert.Equal(expected, string.Concat(pieces));
    }

    [Fact]
    public async Task Cancelling_a_stream_stops_it()
    {
        using var cts = new CancellationTokenSource();
        var pieces = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in models.Merged.StreamAsync(Prompt, new GenerationOptions { MaxNewTokens = 512, MinNewTokens = 512 }, cts.Token))
            {
                if (++pieces == 2)
                    cts.Cancel();
            }
        });
        Assert.Equal(2, pieces);
    }

    [Fact]
    public async Task Cancelling_generation_midway_returns_cancelled_partial_results()
    {
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            models.Merged.GenerateAsync([Prompt], new GenerationOptions(), new CancellationToken(canceled: true)));

        // Cancel deterministically after the fifth token of the first prompt (the observer runs on the decode thread).
        var options = new GenerationOptions { MaxNewTokens = 64, MinNewTokens = 64 };
        using var cts = new CancellationTokenSource();
        var observer = new CancelAfter(5, cts);
        var results = await Task.Run(() => Generator.Generate(
            models.Merged, PromptSource.FromText([Prompt, "a"]), options, observer, cts.Token));
        Assert.All(results, r =>
        {
            Assert.Equal(FinishReason.Cancelled, r.FinishReason);
            Assert.Equal(5, r.OutputTokens);
        });
        // The partial output is the prefix of the full run.
        var full = (await models.Merged.GenerateAsync([Prompt], options))[0];
        Assert.Equal(full.OutputIds.Take(5), results[0].OutputIds);
        Assert.Equal(models.Merged.Tokenizer.Decode(results[0].OutputIds.ToArray()), results[0].Text);
    }

    private sealed class CancelAfter(int tokens, CancellationTokenSource cts) : ITokenObserver
    {
        public void OnToken(int row, ReadOnlySpan<int> generated)
        {
            if (row == 0 && generated.Length == tokens)
                cts.Cancel();
        }
    }

    [Fact]
    public async Task Concurrent_callers_get_the_sequential_results()
    {
        string[] prompts = [Prompt, "a", "the red fox jumps over the lazy dog", "Where is the moon?", "three green apples"];
        var greedy = new GenerationOptions { MaxNewTokens = 24 };
        var beam = new GenerationOptions { MaxNewTokens = 16, NumBeams = 3 };
        var sequential = new List<string>();
        foreach (var p in prompts)
        {
            sequential.Add(string.Join(',', (await models.Merged.GenerateAsync([p], greedy))[0].OutputIds));
            sequential.Add(string.Join(',', (await models.Merged.GenerateAsync([p], beam))[0].OutputIds));
        }
        var tasks = prompts.SelectMany(p => new[] { greedy, beam }.Select(o => models.Merged.GenerateAsync([p], o))).ToArray();
        var concurrent = await Task.WhenAll(tasks);
        Assert.Equal(sequential, concurrent.Select(r => string.Join(',', r[0].OutputIds)));
    }

    [Fact]
    public async Task Beam_batch_with_padding_equals_single_runs()
    {
        string[] prompts = ["a", Prompt, "three green apples"];
        var options = new GenerationOptions { MaxNewTokens = 12, NumBeams = 3, LengthPenalty = 0.8 };
        var batch = await models.Split.GenerateAsync(prompts, options);
        for (var i = 0; i < prompts.Length; i++)
            Assert.Equal((await models.Split.GenerateAsync([prompts[i]], options))[0].OutputIds, batch[i].OutputIds);
    }

    [Fact]
    public async Task Many_prompts_run_as_several_batches_in_prompt_order()
    {
        using var small = T5Model.Load(TinyModels.ModelDirectory, new ModelOptions { MaxBatchRows = 2 });
        string[] prompts = ["a", Prompt, "three green apples", "Where is the moon?", "b"];
        var options = new GenerationOptions { MaxNewTokens = 10 };
        var chunked = await small.GenerateAsync(prompts, options);
        var whole = await models.Merged.GenerateAsync(prompts, options);
        Assert.Equal(whole.Select(r => string.Join(',', r.OutputIds)), chunked.Select(r => string.Join(',', r.OutputIds)));
    }
}
