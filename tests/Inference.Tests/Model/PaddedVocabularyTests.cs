using System.Text.Json;
using Serverless.Inference.Generation;
using Serverless.Inference.Model;

namespace Serverless.Inference.Tests.Model;

/// <summary>
/// Greedy decoding chooses from every logits row, as Hugging Face's generate does: flan-T5's sentinel ids
/// (<c>&lt;extra_id_N&gt;</c>) and even its padding rows can win, and the torch reference's goldens contain both.
/// </summary>
[Collection(TinyModelCollection.Name)]
public sealed class PaddedVocabularyTests(PaddedTinyModels models)
{
    [Theory]
    [InlineData("merged")]
    [InlineData("split")]
    public async Task Greedy_matches_every_golden_including_sentinels_and_padding_rows(string layout)
    {
        var cases = PaddedTinyModels.Goldens().GetProperty("greedy");
        Assert.Contains(cases.EnumerateArray(), c => c.GetProperty("has_sentinel").GetBoolean());
        Assert.Contains(cases.EnumerateArray(), c => c.GetProperty("has_padding_row").GetBoolean());
        var model = models.Get(layout);
        var mismatches = new List<string>();
        foreach (var c in cases.EnumerateArray())
        {
            var input = TinyModels.Ints(c.GetProperty("input_ids"));
            var expected = TinyModels.Ints(c.GetProperty("output_ids"));
            var options = new GenerationOptions { MaxNewTokens = c.GetProperty("max_new_tokens").GetInt32() };
            var result = (await model.GenerateAsync([input], options))[0];
            if (!result.OutputIds.SequenceEqual(expected))
                mismatches.Add($"[{string.Join(',', input)}]: expected [{string.Join(',', expected)}], got [{string.Join(',', result.OutputIds)}]");
            // A sentinel decodes as nothing by default (a special token); a padding row has no text at all.
            Assert.Equal(model.Tokenizer.Decode(expected), result.Text);
        }
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }

    [Theory]
    [InlineData("merged")]
    [InlineData("split")]
    public async Task Right_padded_batch_matches_golden(string layout)
    {
        var batch = PaddedTinyModels.Goldens().GetProperty("greedy_batch");
        var inputs = batch.GetProperty("input_ids").EnumerateArray().Select(TinyModels.Ints).ToArray();
        var expected = batch.GetProperty("output_ids").EnumerateArray().Select(TinyModels.Ints).ToArray();
        Assert.True(inputs.Select(i => i.Length).Distinct().Count() > 1, "the golden batch should need padding");
        var options = new GenerationOptions { MaxNewTokens = batch.GetProperty("max_new_tokens").GetInt32() };
        var results = await models.Get(layout).GenerateAsync(inputs, options);
        for (var i = 0; i < inputs.Length; i++)
            Assert.Equal(expected[i], results[i].OutputIds);
    }
}
