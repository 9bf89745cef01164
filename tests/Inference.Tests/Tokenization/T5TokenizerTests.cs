using System.Text;
using Serverless.Inference.Tokenization;
using Xunit.Abstractions;

namespace Serverless.Inference.Tests.Tokenization;

/// <summary>
/// Golden-data tests: every expectation below comes from SentencePiece 0.1.97 on flan-t5-small's spiece.model
/// (scripts/reference/tokenizer_goldens.py), except the README's published example and T5's sentinel naming.
/// </summary>
public sealed class T5TokenizerTests(T5TokenizerFixture fixture, ITestOutputHelper output) : IClassFixture<T5TokenizerFixture>
{
    private readonly T5Tokenizer _tokenizer = fixture.Tokenizer;

    [Theory]
    [InlineData("texts", 300)]
    [InlineData("unicode", 500)]
    public void Encode_MatchesSentencePieceIdsOnEveryGoldenText(string set, int minimumCount)
    {
        // "texts": handwritten edge cases and seeded random texts; "unicode": every BMP code point in runs of 128.
        var goldens = set == "texts" ? fixture.EncodeGoldens : fixture.UnicodeGoldens;
        Assert.True(goldens.Count >= minimumCount, $"Only {goldens.Count} golden texts.");

        var failures = new List<string>();
        foreach (var golden in goldens)
        {
            var actual = _tokenizer.Encode(golden.Text!, addEndOfSentence: false);
            if (!actual.AsSpan().SequenceEqual(golden.Ids))
            {
                failures.Add($"{golden}\n  expected [{string.Join(", ", golden.Ids)}]\n  actual   [{string.Join(", ", actual)}]");
            }
        }

        output.WriteLine($"id parity ({set}): {goldens.Count - failures.Count}/{goldens.Count} golden texts");
        Assert.True(failures.Count == 0, $"{failures.Count} of {goldens.Count} differ:\n{string.Join("\n", failures.Take(20))}");
    }

    [Fact]
    public void Encode_UserDefinedSymbols_MatchSentencePiece()
    {
        // The golden script appends these symbols to T5's model as USER_DEFINED pieces; do the same here by
        // appending protobuf-encoded pieces (a repeated field concatenates), then compare with its ids.
        const string file = "flan-t5-small.user-defined.golden.jsonl";
        using var header = System.Text.Json.JsonDocument.Parse(File.ReadLines(TokenizerGoldens.FixturePath("tokenizer", file)).First());
        var symbols = header.RootElement.GetProperty("user_defined_symbols").EnumerateArray().Select(e => e.GetString()!).ToArray();
        var model = new MemoryStream();
        model.Write(File.ReadAllBytes(T5TokenizerFixture.ModelPath));
        foreach (var symbol in symbols)
        {
            var text = Encoding.UTF8.GetBytes(symbol);
            byte[] piece = [0x0A, (byte)text.Length, .. text, 0x15, 0, 0, 0, 0, 0x18, 4]; // piece, score 0, type 4
            model.Write([0x0A, (byte)piece.Length, .. piece]);
        }

        model.Position = 0;
        var tokenizer = T5Tokenizer.FromStream(model, "flan-t5-small + user-defined symbols");
        Assert.Equal(32000 + symbols.Length, tokenizer.VocabularySize);

        var goldens = TokenizerGoldens.Load(file);
        Assert.Contains(goldens, g => g.Ids.Any(id => id >= 32000));
        foreach (var golden in goldens)
        {
            Assert.True(
                golden.Ids.AsSpan().SequenceEqual(tokenizer.Encode(golden.Text!, addEndOfSentence: false)),
                $"{golden}: expected [{string.Join(", ", golden.Ids)}], got [{string.Join(", ", tokenizer.Encode(golden.Text!, false))}]");
            Assert.Equal(golden.Decoded, tokenizer.Decode(golden.Ids, skipSpecialTokens: false));
        }
    }

    [Fact]
    public void Goldens_BelongToTheModel() =>
        TokenizerGoldens.AssertGoldensBelongTo("flan-t5-small.golden.jsonl", T5TokenizerFixture.ModelPath);

    [Fact]
    public void Encode_AppendsEndOfSentenceByDefault()
    {
        foreach (var golden in fixture.EncodeGoldens)
        {
            var ids = _tokenizer.Encode(golden.Text!);
            Assert.Equal([.. golden.Ids, _tokenizer.EosId], ids);
        }

        Assert.Equal(1, _tokenizer.EosId);
    }

    [Fact]
    public void Encode_ReadmeExample()
    {
        int[] expected = [2840, 19, 17980, 63, 2726, 15, 1069, 16, 8, 3693, 358, 58];
        Assert.Equal(expected, _tokenizer.Encode("Where is Ganymede located in the solar system?", addEndOfSentence: false));
        Assert.Equal([.. expected, 1], _tokenizer.Encode("Where is Ganymede located in the solar system?"));
    }

    [Fact]
    public void Encode_EmptyString()
    {
        Assert.Empty(_tokenizer.Encode("", addEndOfSentence: false));
        Assert.Equal([1], _tokenizer.Encode(""));
        // Whitespace-only input normalises to nothing, like the empty string.
        Assert.Equal([1], _tokenizer.Encode(" \t\n "));
    }

    [Fact]
    public void Count_tokens_equals_encode_length()
    {
        foreach (var golden in fixture.EncodeGoldens)
        {
            Assert.Equal(golden.Ids.Length, _tokenizer.CountTokens(golden.Text!, addEndOfSentence: false));
            Assert.Equal(golden.Ids.Length + 1, _tokenizer.CountTokens(golden.Text!));
        }
    }

    [Fact]
    public void Encode_IsThreadSafe()
    {
        var goldens = fixture.EncodeGoldens;
        var mismatches = 0;
        Parallel.For(0, goldens.Count * 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var golden = goldens[i % goldens.Count];
            if (!_tokenizer.Encode(golden.Text!, addEndOfSentence: false).AsSpan().SequenceEqual(golden.Ids))
            {
                Interlocked.Increment(ref mismatches);
            }
        });
        Assert.Equal(0, mismatches);
    }

    [Fact]
    public void Decode_MatchesSentencePieceOnGoldenTexts()
    {
        var failures = new List<string>();
        foreach (var golden in fixture.EncodeGoldens.Concat(fixture.UnicodeGoldens))
        {
            // Not skipping: unknown renders as " ⁇ " exactly as sp.decode; skipping: unknown pieces are left out.
            var kept = _tokenizer.Decode(golden.Ids, skipSpecialTokens: false);
            var skipped = _tokenizer.Decode(golden.Ids, skipSpecialTokens: true);
            if (kept != golden.Decoded || skipped != golden.DecodedSkipSpecial)
            {
                failures.Add($"{golden}: expected {Quote(golden.Decoded)} / {Quote(golden.DecodedSkipSpecial)}, got {Quote(kept)} / {Quote(skipped)}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
        Assert.Contains(fixture.EncodeGoldens, g => g.Ids.Contains(_tokenizer.UnkId));
    }

    [Fact]
    public void Decode_MatchesSentencePieceOnRandomIdSequences()
    {
        var failures = new List<string>();
        var comparedKept = 0;
        foreach (var golden in fixture.DecodeGoldens)
        {
            var skipped = _tokenizer.Decode(golden.Ids, skipSpecialTokens: true);
            if (skipped != golden.DecodedSkipSpecial)
            {
                failures.Add($"line {golden.Line} skip: expected {Quote(golden.DecodedSkipSpecial)}, got {Quote(skipped)}");
            }

            // SentencePiece renders control pieces as nothing; this tokenizer shows them when not skipping.
            if (!golden.Ids.Any(id => id == _tokenizer.PadId || id == _tokenizer.EosId))
            {
                comparedKept++;
                var kept = _tokenizer.Decode(golden.Ids, skipSpecialTokens: false);
                if (kept != golden.Decoded)
                {
                    failures.Add($"line {golden.Line} keep: expected {Quote(golden.Decoded)}, got {Quote(kept)}");
                }
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
        Assert.True(comparedKept >= 20, $"Only {comparedKept} sequences compared without skipping.");
    }

    [Fact]
    public void Decode_RoundTripsNormalisedText()
    {
        var text = "Where is Ganymede located in the solar system?";
        Assert.Equal(text, _tokenizer.Decode(_tokenizer.Encode(text)));
    }

    [Fact]
    public void Decode_SpecialTokensAndSentinels()
    {
        var hello = _tokenizer.Encode("Hello", addEndOfSentence: false).Single();
        var first = _tokenizer.VocabularySize + T5Tokenizer.ExtraIdCount - 1;
        int[] ids = [_tokenizer.PadId, first, hello, _tokenizer.UnkId, _tokenizer.VocabularySize, _tokenizer.EosId];

        Assert.Equal("Hello", _tokenizer.Decode(ids));
        Assert.Equal("<pad><extra_id_0> Hello \u2047 <extra_id_99></s>", _tokenizer.Decode(ids, skipSpecialTokens: false));
        Assert.Equal("<extra_id_0>", _tokenizer.IdToPiece(first));
        Assert.Equal("\u2581Hello", _tokenizer.IdToPiece(hello));
        Assert.Equal("", _tokenizer.Decode([]));
        Assert.Throws<ArgumentOutOfRangeException>(() => _tokenizer.Decode([-1]));
    }

    [Fact]
    public void Vocabulary_MatchesTheModel()
    {
        Assert.Equal(32000, _tokenizer.VocabularySize);
        Assert.Equal(0, _tokenizer.PadId);
        Assert.Equal(1, _tokenizer.EosId);
        Assert.Equal(2, _tokenizer.UnkId);
        Assert.Equal("</s>", _tokenizer.IdToPiece(1));
    }

    [Fact]
    public void From_stream_loads_the_same_model()
    {
        using var stream = File.OpenRead(T5TokenizerFixture.ModelPath);
        var fromStream = T5Tokenizer.FromStream(stream);
        var golden = fixture.EncodeGoldens.First(g => g.Ids.Length > 5);
        Assert.Equal(golden.Ids, fromStream.Encode(golden.Text!, addEndOfSentence: false));
    }

    [Fact]
    public void From_file_missing_file_names_the_file()
    {
        var path = Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}", "spiece.model");
        var e = Assert.Throws<FileNotFoundException>(() => T5Tokenizer.FromFile(path));
        Assert.Contains(path, e.Message);
        Assert.Equal(path, e.FileName);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("truncated")]
    [InlineData("empty")]
    public void From_file_corrupt_file_names_the_file(string kind)
    {
        var model = File.ReadAllBytes(T5TokenizerFixture.ModelPath);
        var bytes = kind switch
        {
            "garbage" => Encoding.UTF8.GetBytes("this is not a protobuf model, just some text\n"),
            "truncated" => model[..(model.Length / 2)],
            _ => [],
        };
        var path = Path.Combine(Path.GetTempPath(), $"corrupt-{Guid.NewGuid():N}.model");
        File.WriteAllBytes(path, bytes);
        try
        {
            var e = Assert.Throws<ModelFormatException>(() => T5Tokenizer.FromFile(path));
            Assert.Contains(path, e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static string Quote(string s) => System.Text.Json.JsonSerializer.Serialize(s);
}
