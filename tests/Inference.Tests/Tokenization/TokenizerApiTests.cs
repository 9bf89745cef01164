using System.Buffers;
using Microsoft.ML.Tokenizers;
using Serverless.Inference.Tokenization;

namespace Serverless.Inference.Tests.Tokenization;

/// <summary>
/// <see cref="T5Tokenizer"/> used through Microsoft.ML.Tokenizers' <see cref="Tokenizer"/> abstraction: the same ids as
/// our own API (the SentencePiece goldens), tokens that tile the normalised text, counting, truncation indices, decoding.
/// </summary>
public sealed class TokenizerApiTests(T5TokenizerFixture fixture) : IClassFixture<T5TokenizerFixture>
{
    private readonly T5Tokenizer _t5 = fixture.Tokenizer;
    private Tokenizer Api => _t5;

    private IEnumerable<GoldenCase> Texts => fixture.EncodeGoldens.Concat(fixture.UnicodeGoldens).Where(c => c.Text is not null);

    [Fact]
    public void Ids_and_counts_equal_sentencepiece_goldens_with_the_end_of_sentence()
    {
        var checkedCount = 0;
        foreach (var c in Texts)
        {
            int[] expected = [.. c.Ids, _t5.EosId];
            Assert.True(expected.SequenceEqual(Api.EncodeToIds(c.Text!)), c.ToString());
            Assert.True(expected.SequenceEqual(Api.EncodeToTokens(c.Text!, out _).Select(t => t.Id)), c.ToString());
            Assert.True(expected.SequenceEqual(Api.EncodeToIds(c.Text!.AsSpan())), c.ToString());
            Assert.Equal(expected.Length, Api.CountTokens(c.Text!));
            checkedCount++;
        }
        Assert.True(checkedCount > 1000, $"only {checkedCount} golden texts");
    }

    [Fact]
    public void Tokens_tile_the_normalized_text_and_name_their_pieces()
    {
        foreach (var c in Texts)
        {
            var tokens = Api.EncodeToTokens(c.Text!, out var normalized);
            Assert.NotNull(normalized);
            var at = 0;
            foreach (var token in tokens.Take(tokens.Count - 1))
            {
                Assert.Equal(at, token.Offset.Start.Value);
                Assert.Equal(normalized[token.Offset], token.Value);
                if (token.Id != _t5.UnkId)
                    Assert.Equal(_t5.IdToPiece(token.Id), token.Value);
                at = token.Offset.End.Value;
            }
            Assert.Equal(normalized.Length, at);
            var eos = tokens[^1];
            Assert.Equal((_t5.EosId, "</s>", normalized.Length, normalized.Length), (eos.Id, eos.Value, eos.Offset.Start.Value, eos.Offset.End.Value));
        }
    }

    [Fact]
    public void Normalized_text_has_spaces_as_meta_symbols()
    {
        var tokens = Api.EncodeToTokens("Hello  world", out var normalized);
        Assert.Equal("\u2581Hello\u2581world", normalized);
        Assert.Equal(_t5.Encode("Hello  world"), tokens.Select(t => t.Id));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(1000)]
    public void Index_by_token_count_cuts_between_tokens_from_either_end(int maxTokens)
    {
        const string text = "Where is Ganymede located in the solar system? It orbits Jupiter, beyond Europa.";
        var tokens = Api.EncodeToTokens(text, out var normalized);
        var kept = Math.Min(maxTokens, tokens.Count);

        var index = Api.GetIndexByTokenCount(text, maxTokens, out var normalizedText, out var tokenCount);
        Assert.Equal(normalized, normalizedText);
        Assert.Equal(kept, tokenCount);
        Assert.Equal(kept == 0 ? 0 : tokens[kept - 1].Offset.End.Value, index);

        var fromEnd = Api.GetIndexByTokenCountFromEnd(text, maxTokens, out _, out var fromEndCount);
        Assert.Equal(kept, fromEndCount);
        Assert.Equal(kept == 0 ? normalized!.Length : tokens[tokens.Count - kept].Offset.Start.Value, fromEnd);

        var truncated = Api.EncodeToIds(text, maxTokens, out _, out var consumed);
        Assert.Equal(tokens.Take(kept).Select(t => t.Id), truncated);
        Assert.Equal(index, consumed);
    }

    [Fact]
    public void Decode_equals_our_decode_and_stops_at_a_whole_token_when_the_destination_is_short()
    {
        foreach (var c in fixture.DecodeGoldens)
        {
            Assert.Equal(c.DecodedSkipSpecial, Api.Decode(c.Ids.ToList()));
            Span<char> destination = new char[c.DecodedSkipSpecial.Length / 2];
            var status = Api.Decode(c.Ids, destination, out var idsConsumed, out var written);
            if (c.DecodedSkipSpecial.Length == 0)
            {
                Assert.Equal(OperationStatus.Done, status);
                continue;
            }
            Assert.Equal(OperationStatus.DestinationTooSmall, status);
            var prefix = _t5.Decode(c.Ids.AsSpan(0, idsConsumed));
            Assert.Equal(prefix, destination[..written].ToString());
            Assert.True(_t5.Decode(c.Ids.AsSpan(0, idsConsumed + 1)).Length > destination.Length, c.ToString());
        }
    }
}
