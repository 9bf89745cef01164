using Serverless.Inference.Tokenization;

namespace Serverless.Inference.Tests.Tokenization;

/// <summary>
/// The same golden checks on a second, unrelated model: the tiny demo model's 1,024-piece spiece.model
/// (models/demo), so nothing in the tokenizer is tuned to T5's vocabulary.
/// </summary>
public sealed class DemoModelTokenizerTests
{
    private static readonly string ModelPath = FindDemoModel();

    private static string FindDemoModel()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "models", "demo", "spiece.model");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"models/demo/spiece.model was not found above {AppContext.BaseDirectory}.");
    }

    [Fact]
    public void Encode_AndDecode_MatchSentencePiece()
    {
        TokenizerGoldens.AssertGoldensBelongTo("demo.golden.jsonl", ModelPath);
        var tokenizer = T5Tokenizer.FromFile(ModelPath);
        Assert.Equal(1024, tokenizer.VocabularySize);

        var goldens = TokenizerGoldens.Load("demo.golden.jsonl");
        Assert.True(goldens.Count >= 150, $"Only {goldens.Count} golden texts.");
        var failures = new List<string>();
        foreach (var golden in goldens)
        {
            var ids = tokenizer.Encode(golden.Text!, addEndOfSentence: false);
            if (!ids.AsSpan().SequenceEqual(golden.Ids)
                || tokenizer.Decode(golden.Ids, skipSpecialTokens: false) != golden.Decoded
                || tokenizer.Decode(golden.Ids) != golden.DecodedSkipSpecial)
            {
                failures.Add($"{golden}: expected [{string.Join(", ", golden.Ids)}], got [{string.Join(", ", ids)}]");
            }
        }

        foreach (var golden in TokenizerGoldens.Load("demo.decode.golden.jsonl"))
        {
            if (tokenizer.Decode(golden.Ids) != golden.DecodedSkipSpecial)
            {
                failures.Add($"decode line {golden.Line}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
    }
}
