using System.Text.Json;
using Serverless.Inference.Generation;
using Serverless.Inference.Model;

namespace Serverless.Inference.Tests.Model;

/// <summary>The C# decode loop against the torch reference's goldens, token for token, with both decoder layouts.</summary>
[Collection(TinyModelCollection.Name)]
public sealed class GoldenTests(TinyModels models)
{
    [Theory]
    [InlineData("merged")]
    [InlineData("split")]
    public async Task Greedy_matches_every_golden(string layout)
    {
        var cases = TinyModels.Goldens().GetProperty("greedy");
        Assert.True(cases.GetArrayLength() >= 10, "expected at least 10 greedy goldens");
        var mismatches = new List<string>();
        foreach (var c in cases.EnumerateArray())
        {
            var input = TinyModels.Ints(c.GetProperty("input_ids"));
            var expected = TinyModels.Ints(c.GetProperty("output_ids"));
            var options = new GenerationOptions { MaxNewTokens = c.GetProperty("max_new_tokens").GetInt32() };
            var result = (await models.Get(layout).GenerateAsync([input], options))[0];
            if (!result.OutputIds.SequenceEqual(expected))
                mismatches.Add($"[{string.Join(',', input)}]: expected [{string.Join(',', expected)}], got [{string.Join(',', result.OutputIds)}]");
            Assert.Equal(expected[^1] == 1 ? FinishReason.Eos : FinishReason.Length, result.FinishReason);
            Assert.Equal(expected.Length, result.OutputTokens);
            Assert.Equal(input.Length, result.InputTokens);
        }
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }

    [Theory]
    [InlineData("merged")]
    [InlineData("split")]
    public async Task Greedy_text_prompts_tokenize_to_the_golden_inputs(string layout)
    {
        var cases = TinyModels.Goldens().GetProperty("greedy");
        foreach (var c in cases.EnumerateArray().Take(4))
        {
            var options = new GenerationOptions { MaxNewTokens = c.GetProperty("max_new_tokens").GetInt32() };
            var result = (await models.Get(layout).GenerateAsync([c.GetProperty("text").GetString()!], options))[0];
            Assert.Equal(TinyModels.Ints(c.GetProperty("output_ids")), result.OutputIds);
            Assert.Equal(models.Merged.Tokenizer.Decode(TinyModels.Ints(c.GetProperty("output_ids"))), result.Text);
        }
    }

    [Theory]
    [InlineData("merged")]
    [InlineData("split")]
    public async Task Right_padded_batch_matches_golden_and_single_runs(string layout)
    {
        var batch = TinyModels.Goldens().GetProperty("greedy_batch");
        var inputs = batch.GetProperty("input_ids").EnumerateArray().Select(TinyModels.Ints).ToArray();
        var expected = batch.GetProperty("output_ids").EnumerateArray().Select(TinyModels.Ints).ToArray();
        Assert.True(inputs.Select(i => i.Length).Distinct().Count() > 1, "the golden batch should need padding");
        var options = new GenerationOptions { MaxNewTokens = batch.GetProperty("max_new_tokens").GetInt32() };

        var results = await models.Get(layout).GenerateAsync(inputs, options);
        Assert.Equal(inputs.Length, results.Count);
        for (var i = 0; i < inputs.Length; i++)
        {
            Assert.Equal(expected[i], results[i].OutputIds);
            var single = (await models.Get(layout).GenerateAsync([inputs[i]], options))[0];
            Assert.Equal(single.OutputIds, results[i].OutputIds);
            Assert.Equal(single.Text, results[i].Text);
        }
    }

    [Theory]
    [InlineData("merged")]
    [InlineData("split")]
    public async Task Beam_search_matches_every_golden(string layout)
    {
        var cases = TinyModels.Goldens().GetProperty("beam");
        Assert.True(cases.GetArrayLength() > 0);
        var mismatches = new List<string>();
        foreach (var c in cases.EnumerateArray())
        {
            var input = TinyModels.Ints(c.GetProperty("input_ids"));
            var expected = TinyModels.Ints(c.GetProperty("output_ids"));
            var options = new GenerationOptions
            {
                NumBeams = c.GetProperty("num_beams").GetInt32(),
                LengthPenalty = c.GetProperty("length_penalty").GetDouble(),
                EarlyStopping = c.GetProperty("early_stopping").GetBoolean(),
                MaxNewTokens = c.GetProperty("max_new_tokens").GetInt32(),
            };
            var result = (await models.Get(layout).GenerateAsync([input], options))[0];
            if (!result.OutputIds.SequenceEqual(expected))
                mismatches.Add($"[{string.Join(',', input)}] {options.NumBeams} beams, lp {options.LengthPenalty}, early {options.EarlyStopping}: expected [{string.Join(',', expected)}], got [{string.Join(',', result.OutputIds)}]");
        }
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }

    [Theory]
    [InlineData("merged")]
    [InlineData("split")]
    public async Task Batched_beam_search_matches_golden(string layout)
    {
        var batch = TinyModels.Goldens().GetProperty("beam_batch");
        Assert.Equal(JsonValueKind.Object, batch.ValueKind);
        var inputs = batch.GetProperty("input_ids").EnumerateArray().Select(TinyModels.Ints).ToArray();
        var expected = batch.GetProperty("output_ids").EnumerateArray().Select(TinyModels.Ints).ToArray();
        var options = new GenerationOptions
        {
            NumBeams = batch.GetProperty("num_beams").GetInt32(),
            LengthPenalty = batch.GetProperty("length_penalty").GetDouble(),
            EarlyStopping = batch.GetProperty("early_stopping").GetBoolean(),
            MaxNewTokens = batch.GetProperty("max_new_tokens").GetInt32(),
        };
        var results = await models.Get(layout).GenerateAsync(inputs, options);
        for (var i = 0; i < inputs.Length; i++)
            Assert.Equal(expected[i], results[i].OutputIds);
    }
}

/// <summary>The first decoder step's logits against the reference, within float tolerance (ONNX Runtime vs torch).</summary>
[Collection(TinyModelCollection.Name)]
public sealed class FirstStepLogitsTests(TinyModels models)
{
    [Theory]
    [InlineData("merged")]
    [InlineData("split")]
    public void First_step_top5_logits_match_the_reference(string layout)
    {
        var golden = TinyModels.Goldens().GetProperty("first_step_logits");
        var input = TinyModels.Ints(golden.GetProperty("input_ids"));
        var model = models.Get(layout);
        var (hidden, mask) = EncoderRun.Run(model, [input], 1, out _);
        using var stepper = new DecoderStepper(model, 1, hidden, mask);
        stepper.InputIds[0] = 0;
        var logits = stepper.Step().ToArray();
        foreach (var top in golden.GetProperty("top5").EnumerateArray())
            Assert.Equal(top.GetProperty("logit").GetSingle(), logits[top.GetProperty("id").GetInt32()], 1e-4f);
        var argmax = Array.IndexOf(logits, logits.Max());
        Assert.Equal(golden.GetProperty("top5")[0].GetProperty("id").GetInt32(), argmax);
    }
}
