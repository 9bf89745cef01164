using System.Security.Cryptography;
using System.Text.Json;

namespace Serverless.Inference.Tests.Tokenization;

/// <summary>One line of a golden file written by scripts/reference/tokenizer_goldens.py from SentencePiece 0.1.97.</summary>
public sealed record GoldenCase(string? Text, int[] Ids, string Decoded, string DecodedSkipSpecial, int Line)
{
    public override string ToString() => $"line {Line}: {JsonSerializer.Serialize(Text)}";
}

internal static class TokenizerGoldens
{
    public static string FixturePath(params string[] parts) =>
        Path.Combine([AppContext.BaseDirectory, "Fixtures", .. parts]);

    public static IReadOnlyList<GoldenCase> Load(string fileName)
    {
        var path = FixturePath("tokenizer", fileName);
        var cases = new List<GoldenCase>();
        var line = 0;
        foreach (var json in File.ReadLines(path))
        {
            line++;
            if (json.Length == 0)
            {
                continue;
            }

            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (!root.TryGetProperty("ids", out _))
            {
                continue; // a header line: the model's hash or the user-defined symbols
            }

            cases.Add(new GoldenCase(
                root.TryGetProperty("text", out var text) ? text.GetString() : null,
                root.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                root.GetProperty("decoded").GetString()!,
                root.GetProperty("decoded_skip_special").GetString()!,
                line));
        }

        return cases;
    }

    /// <summary>Fails unless the golden file's header names the SHA-256 of <paramref name="modelPath"/>.</summary>
    public static void AssertGoldensBelongTo(string goldenFileName, string modelPath)
    {
        using var header = JsonDocument.Parse(File.ReadLines(FixturePath("tokenizer", goldenFileName)).First());
        var expected = header.RootElement.GetProperty("model_sha256").GetString()!;
        var actual = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(modelPath)));
        Assert.True(
            expected == actual,
            $"{goldenFileName} was generated from a model with SHA-256 {expected}, but {modelPath} has {actual}: " +
            "regenerate the goldens with scripts/reference/tokenizer_goldens.py.");
    }
}
