using Serverless.Inference.Tokenization;

namespace Serverless.Inference.Tests.Tokenization;

/// <summary>Loads flan-t5-small's real spiece.model once for all tokenizer tests.</summary>
public sealed class T5TokenizerFixture
{
    public static string ModelPath => TokenizerGoldens.FixturePath("flan-t5-small", "spiece.model");

    public T5Tokenizer Tokenizer { get; } = T5Tokenizer.FromFile(ModelPath);

    public IReadOnlyList<GoldenCase> EncodeGoldens { get; } = TokenizerGoldens.Load("flan-t5-small.golden.jsonl");

    public IReadOnlyList<GoldenCase> UnicodeGoldens { get; } = TokenizerGoldens.Load("flan-t5-small.unicode.golden.jsonl");

    public IReadOnlyList<GoldenCase> DecodeGoldens { get; } = TokenizerGoldens.Load("flan-t5-small.decode.golden.jsonl");
}
