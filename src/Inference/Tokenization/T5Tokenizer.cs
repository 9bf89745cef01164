namespace Serverless.Inference.Tokenization;

/// <summary>
/// T5's SentencePiece unigram tokenizer, read from <c>spiece.model</c>, with id parity to SentencePiece.
/// </summary>
public sealed class T5Tokenizer
{
    /// <summary>Loads the tokenizer from a SentencePiece model file (<c>spiece.model</c>).</summary>
    public static T5Tokenizer FromFile(string spieceModelPath) => throw new NotImplementedException();

    public int PadId => 0;
    public int EosId => 1;
    public int UnkId => 2;

    /// <summary>Number of pieces in the SentencePiece vocabulary.</summary>
    public int VocabularySize => throw new NotImplementedException();

    /// <summary>Encodes text to ids; appends <c>&lt;/s&gt;</c> (id 1) when <paramref name="addEndOfSentence"/> is true.</summary>
    public int[] Encode(string text, bool addEndOfSentence = true) => throw new NotImplementedException();

    /// <summary>Decodes ids to text; skips special tokens (pad, eos, unk, extra ids) when asked.</summary>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = true) => throw new NotImplementedException();
}
