using Microsoft.ML.Tokenizers;
using Xunit.Abstractions;

namespace Serverless.Inference.Tests.Tokenization;

/// <summary>
/// Microsoft.ML.Tokenizers' own <see cref="SentencePieceTokenizer"/> over our SentencePiece parity goldens. We keep our
/// implementation while the package differs; these tests record by how much, so a package update that closes the gap
/// (or widens it) shows up here, and the day they pass with zero differences we can switch.
/// </summary>
public sealed class MlTokenizersComparisonTests(ITestOutputHelper output)
{
    private static string FlanModel => TokenizerGoldens.FixturePath("flan-t5-small", "spiece.model");
    private static string DemoModel => Path.Combine(AppContext.BaseDirectory, "Models", "demo", "spiece.model");

    [Theory]
    [InlineData("flan-t5-small")]
    [InlineData("demo")]
    public void The_package_cannot_load_a_model_without_bos(string model)
    {
        // T5's spiece.model has bos_id -1 (no BOS piece); SentencePieceTokenizer 2.0.1 indexes its pieces with it.
        using var stream = File.OpenRead(model == "demo" ? DemoModel : FlanModel);
        Assert.Throws<IndexOutOfRangeException>(() => SentencePieceTokenizer.Create(stream, addBeginningOfSentence: false, addEndOfSentence: false));
    }

    [Theory]
    // Measured with Microsoft.ML.Tokenizers 2.0.1: most differences are runs of unknown characters (one <unk> each
    // instead of one per run); the rest are control characters nmt_nfkc removes, and segmentations of long repeats.
    [InlineData("flan-t5-small.golden.jsonl", "flan-t5-small", 250, 49)]
    [InlineData("flan-t5-small.unicode.golden.jsonl", "flan-t5-small", 718, 3)]
    [InlineData("demo.golden.jsonl", "demo", 140, 12)]
    public void The_package_with_a_bos_id_differs_from_sentencepiece_on_a_recorded_number_of_texts(
        string goldens, string model, int expectedDifferences, int expectedAfterMergingUnknowns)
    {
        // Given a BOS id it never adds (addBeginningOfSentence false), the package loads. T5 has no BOS; the EOS id
        // stands in, which only changes how that id is treated when decoding (not compared here).
        var proto = File.ReadAllBytes(model == "demo" ? DemoModel : FlanModel);
        var patched = SentencePieceProtoPatch.SetTrainerSpecInt32(proto, SentencePieceProtoPatch.BosIdField, 1);
        using var stream = new MemoryStream(patched);
        var package = SentencePieceTokenizer.Create(stream, addBeginningOfSentence: false, addEndOfSentence: false);

        var cases = TokenizerGoldens.Load(goldens);
        Assert.NotEmpty(cases);
        var unknown = package.UnknownId;
        var differing = new List<string>();
        var afterMergingUnknowns = 0;
        foreach (var c in cases)
        {
            int[] ids;
            try
            {
                ids = [.. package.EncodeToIds(c.Text!)];
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                differing.Add($"{c}: throws {e.GetType().Name}");
                continue;
            }
            if (!ids.SequenceEqual(c.Ids))
            {
                differing.Add($"{c}: expected [{string.Join(',', c.Ids)}], got [{string.Join(',', ids)}]");
                // SentencePiece emits one <unk> for a run of unknown characters; the package one per character.
                // Counting what is left after merging such runs shows whether that is the only difference.
                var merged = ids.Where((id, i) => id != unknown || i == 0 || ids[i - 1] != unknown).ToArray();
                if (!merged.SequenceEqual(c.Ids))
                    afterMergingUnknowns++;
            }
        }
        foreach (var line in differing.Take(30))
            output.WriteLine(line);
        output.WriteLine($"{differing.Count} of {cases.Count} texts differ; {afterMergingUnknowns} after merging runs of <unk>");
        Assert.True(expectedDifferences == differing.Count && expectedAfterMergingUnknowns == afterMergingUnknowns,
            $"expected {expectedDifferences} of {cases.Count} texts to differ ({expectedAfterMergingUnknowns} after merging runs of <unk>), " +
            $"{differing.Count} do ({afterMergingUnknowns}):\n" + string.Join("\n", differing.Take(10)));
    }
}
