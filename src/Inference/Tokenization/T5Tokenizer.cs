using System.Buffers;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace Serverless.Inference.Tokenization;

/// <summary>
/// T5's SentencePiece unigram tokenizer, read from <c>spiece.model</c>, with id parity to SentencePiece 0.1.97
/// (<c>sp.encode</c>): the precompiled-charsmap normaliser, whitespace handling and the optimised unigram Viterbi
/// are reimplemented here because Microsoft.ML.Tokenizers 2.0.1 cannot load T5's model and differs from
/// SentencePiece on unknown characters and score ties (MlTokenizersComparisonTests records by how much). It is a
/// Microsoft.ML.Tokenizers <see cref="Tokenizer"/> all the same (T5Tokenizer.TokenizerApi.cs), so code written against
/// that abstraction takes it. Immutable and thread-safe; encoding rents its scratch buffers from the shared array pools.
/// </summary>
public sealed partial class T5Tokenizer : Tokenizer
{
    /// <summary>T5 appends 100 sentinel ids after the SentencePiece vocabulary; the highest is <c>&lt;extra_id_0&gt;</c>.</summary>
    public const int ExtraIdCount = 100;

    // SentencePiece's penalty for an unknown character relative to the rarest piece (kUnkPenalty).
    private const float UnknownPenalty = 10.0f;

    private readonly string[] _pieces;
    private readonly PieceType[] _types;
    private readonly float[] _scores;
    private readonly ByteTrie _trie;
    private readonly SentencePieceNormalizer _normalizer;
    private readonly float _unknownScore;
    private readonly float _maxScore;
    private readonly string _unknownSurface;
    private readonly bool _stripLeadingSpaceOnDecode;

    // Each piece's decoded text (▁ as space), and the same without its leading ▁ for the start of the output.
    private readonly string[] _surfaces;
    private readonly string[] _leadingSurfaces;

    // Hugging Face's T5 numbering: <extra_id_0> is the highest id, <extra_id_99> the first after the vocabulary.
    private readonly string[] _extraIdPieces;

    private T5Tokenizer(SentencePieceModelProto model)
    {
        CheckSupported(model);
        _pieces = [.. model.Pieces];
        _types = [.. model.Types];
        _scores = [.. model.Scores];

        // As SentencePiece's ModelInterface: normal, user-defined and unused pieces are matched by the trie;
        // control and unknown pieces are only reachable by id. The unknown id is the piece typed UNKNOWN.
        var trieEntries = new List<(byte[], int)>(_pieces.Length);
        var userDefined = new List<(byte[], int)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var unknownId = -1;
        var minScore = float.MaxValue;
        var maxScore = 1.17549435E-38f; // SentencePiece starts from FLT_MIN, the smallest positive normal float.
        for (var id = 0; id < _pieces.Length; id++)
        {
            var piece = _pieces[id];
            if (piece.Length == 0)
            {
                throw new InvalidDataException($"Piece {id} is empty.");
            }

            if (!seen.Add(piece))
            {
                throw new InvalidDataException($"Piece {id} ('{piece}') is defined twice.");
            }

            switch (_types[id])
            {
                case PieceType.Normal:
                    minScore = Math.Min(minScore, _scores[id]);
                    maxScore = Math.Max(maxScore, _scores[id]);
                    trieEntries.Add((Encoding.UTF8.GetBytes(piece), id));
                    break;
                case PieceType.UserDefined:
                    trieEntries.Add((Encoding.UTF8.GetBytes(piece), id));
                    userDefined.Add((Encoding.UTF8.GetBytes(piece), id));
                    break;
                case PieceType.Unused:
                    trieEntries.Add((Encoding.UTF8.GetBytes(piece), id));
                    break;
                case PieceType.Unknown:
                    if (unknownId >= 0)
                    {
                        throw new InvalidDataException($"Pieces {unknownId} and {id} are both of type UNKNOWN.");
                    }

                    unknownId = id;
                    break;
                case PieceType.Byte:
                    throw new InvalidDataException("Byte pieces (byte_fallback) are not supported.");
            }
        }

        if (unknownId < 0)
        {
            throw new InvalidDataException("The model has no piece of type UNKNOWN.");
        }

        if (trieEntries.Count == 0)
        {
            throw new InvalidDataException("The model has no normal pieces.");
        }

        _trie = new ByteTrie(trieEntries);
        _normalizer = new SentencePieceNormalizer(model, userDefined.Count > 0 ? new ByteTrie(userDefined) : null);
        _unknownScore = minScore - UnknownPenalty;
        _maxScore = maxScore;
        _unknownSurface = model.UnkSurface;
        _stripLeadingSpaceOnDecode = model.AddDummyPrefix || model.RemoveExtraWhitespaces;

        UnkId = unknownId;
        EosId = ControlId(model.EosPiece);
        PadId = ControlId(model.PadPiece);

        (_surfaces, _leadingSurfaces) = Surfaces(_pieces, _stripLeadingSpaceOnDecode);
        _extraIdPieces = new string[ExtraIdCount];
        for (var i = 0; i < ExtraIdCount; i++)
        {
            _extraIdPieces[i] = $"<extra_id_{ExtraIdCount - 1 - i}>";
        }

        int ControlId(string piece)
        {
            var id = Array.IndexOf(_pieces, piece);
            return id >= 0 && _types[id] == PieceType.Control ? id : -1;
        }
    }

    private static void CheckSupported(SentencePieceModelProto model)
    {
        if (model.ModelType != 1)
        {
            throw new InvalidDataException($"The model type is {model.ModelType}; only unigram (1) models are supported.");
        }

        if (model.ByteFallback)
        {
            throw new InvalidDataException("Models trained with byte_fallback are not supported.");
        }

        if (model.TreatWhitespaceAsSuffix)
        {
            throw new InvalidDataException("Models trained with treat_whitespace_as_suffix are not supported.");
        }

        if (model.Pieces.Count == 0)
        {
            throw new InvalidDataException("The model has no pieces.");
        }
    }

    /// <summary>Each piece's decoded text (▁ as space), and the same without its leading ▁ for the start of the output.</summary>
    private static (string[] Surfaces, string[] Leading) Surfaces(string[] pieces, bool stripLeadingSpace)
    {
        var surfaces = new string[pieces.Length];
        var leading = new string[pieces.Length];
        for (var id = 0; id < pieces.Length; id++)
        {
            var piece = pieces[id];
            surfaces[id] = piece.Replace('\u2581', ' ');
            leading[id] = stripLeadingSpace && piece[0] == '\u2581'
                ? piece[1..].Replace('\u2581', ' ')
                : surfaces[id];
        }

        return (surfaces, leading);
    }

    /// <summary>Loads the tokenizer from a SentencePiece model file (<c>spiece.model</c>).</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ModelFormatException">The file is not a SentencePiece unigram model this class supports.</exception>
    public static T5Tokenizer FromFile(string spieceModelPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(spieceModelPath);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(spieceModelPath);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new FileNotFoundException(
                $"The SentencePiece model '{spieceModelPath}' does not exist; pass the path of the model's spiece.model.",
                spieceModelPath,
                e);
        }

        return FromBytes(bytes, spieceModelPath);
    }

    /// <summary>Loads the tokenizer from a stream holding a SentencePiece model (e.g. a blob download).</summary>
    /// <exception cref="ModelFormatException">The data is not a SentencePiece unigram model this class supports.</exception>
    public static T5Tokenizer FromStream(Stream stream, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return FromBytes(buffer.ToArray(), sourceName ?? "the stream");
    }

    private static T5Tokenizer FromBytes(byte[] bytes, string source)
    {
        try
        {
            return new T5Tokenizer(SentencePieceModelProto.Parse(bytes));
        }
        catch (Exception e) when (e is InvalidDataException or OverflowException or ArgumentException)
        {
            throw new ModelFormatException(
                $"'{source}' is not a usable SentencePiece unigram model ({e.Message}). Use the spiece.model published with the T5 checkpoint.",
                e);
        }
    }

    /// <summary>The id of <c>&lt;pad&gt;</c>, which T5 also uses as the decoder's start token.</summary>
    public int PadId { get; }
    /// <summary>The id of <c>&lt;/s&gt;</c>, which ends every encoded prompt and every finished completion.</summary>
    public int EosId { get; }
    /// <summary>The id of <c>&lt;unk&gt;</c>, given to text the vocabulary cannot spell.</summary>
    public int UnkId { get; }

    /// <summary>Number of pieces in the SentencePiece vocabulary.</summary>
    public int VocabularySize => _pieces.Length;

    /// <summary>The vocabulary piece of <paramref name="id"/>, or <c>&lt;extra_id_N&gt;</c> for T5's sentinel ids.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is negative or past the sentinels.</exception>
    public string IdToPiece(int id)
    {
        if ((uint)id < (uint)_pieces.Length)
        {
            return _pieces[id];
        }

        if (id >= _pieces.Length && id < _pieces.Length + ExtraIdCount)
        {
            return ExtraIdPiece(id);
        }

        throw new ArgumentOutOfRangeException(nameof(id), id, $"Ids run from 0 to {_pieces.Length + ExtraIdCount - 1}.");
    }

    /// <summary>Encodes text to ids; appends <c>&lt;/s&gt;</c> (id 1) when <paramref name="addEndOfSentence"/> is true.</summary>
    /// <exception cref="InvalidOperationException"><paramref name="addEndOfSentence"/> is true and the model has no
    /// <c>&lt;/s&gt;</c> piece.</exception>
    public int[] Encode(string text, bool addEndOfSentence = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = ArrayPool<int>.Shared.Rent(16);
        try
        {
            var count = EncodeCore(text, addEndOfSentence, ref ids);
            return ids.AsSpan(0, count).ToArray();
        }
        finally
        {
            ArrayPool<int>.Shared.Return(ids);
        }
    }

    /// <summary>The number of ids <see cref="Encode"/> would return, without allocating them.</summary>
    public int CountTokens(string text, bool addEndOfSentence = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = ArrayPool<int>.Shared.Rent(16);
        try
        {
            return EncodeCore(text, addEndOfSentence, ref ids);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(ids);
        }
    }

    private int EncodeCore(string text, bool addEndOfSentence, ref int[] ids)
    {
        var count = 0;
        if (text.Length > 0)
        {
            var utf8 = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(text.Length));
            var normalized = ArrayPool<byte>.Shared.Rent(Math.Max(64, text.Length * 2));
            try
            {
                var utf8Length = Encoding.UTF8.GetBytes(text, utf8);
                var normalizedLength = _normalizer.Normalize(utf8.AsSpan(0, utf8Length), ref normalized);
                count = Viterbi(normalized.AsSpan(0, normalizedLength), ref ids);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(normalized);
                ArrayPool<byte>.Shared.Return(utf8);
            }
        }

        if (addEndOfSentence)
        {
            if (EosId < 0)
            {
                throw new InvalidOperationException("This model has no end-of-sentence piece; encode with addEndOfSentence: false.");
            }

            EnsureCapacity(ref ids, count + 1);
            ids[count++] = EosId;
        }

        return count;
    }

    /// <summary>
    /// SentencePiece 0.1.97's optimised unigram Viterbi (<c>Model::EncodeOptimized</c>) over the normalised bytes:
    /// for each character start in order, every piece that is a prefix there relaxes the node at its end with a
    /// strict <c>&gt;</c> (ties keep the earlier candidate); a character no single piece covers gets an unknown node
    /// scored min_score − 10. Consecutive unknown pieces are merged into one, as <c>SentencePieceProcessor</c> does.
    /// Writes the ids to <paramref name="ids"/> (growing it from the pool) and returns their count.
    /// </summary>
    private int Viterbi(ReadOnlySpan<byte> text, ref int[] ids, List<int>? ends = null)
    {
        var size = text.Length;
        if (size == 0)
        {
            return 0;
        }

        var bestScore = ArrayPool<float>.Shared.Rent(size + 1);
        var startsAt = ArrayPool<int>.Shared.Rent(size + 1);
        var pieceId = ArrayPool<int>.Shared.Rent(size + 1);
        try
        {
            startsAt.AsSpan(0, size + 1).Fill(-1);
            bestScore[0] = 0f;
            var start = 0;
            while (start < size)
            {
                var charLength = Math.Min(SentencePieceNormalizer.Utf8CharLength(text[start]), size - start);
                RelaxFrom(text, start, charLength, bestScore, startsAt, pieceId);
                start += charLength;
            }

            return Backtrack(size, startsAt, pieceId, ref ids, ends);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(pieceId);
            ArrayPool<int>.Shared.Return(startsAt);
            ArrayPool<float>.Shared.Return(bestScore);
        }
    }

    /// <summary>
    /// Relaxes the lattice node at the end of every piece that starts at <paramref name="start"/>, and the node after the
    /// character there with an unknown piece when no single piece covers that character.
    /// </summary>
    private void RelaxFrom(ReadOnlySpan<byte> text, int start, int charLength, float[] bestScore, int[] startsAt, int[] pieceId)
    {
        var size = text.Length;
        var trie = _trie;
        var scores = _scores;
        var types = _types;
        var scoreHere = bestScore[start];
        var hasSingleCharacterPiece = false;

        var node = ByteTrie.Root;
        for (var end = start; end < size;)
        {
            node = trie.Next(node, text[end]);
            end++;
            if (node < 0)
            {
                break;
            }

            var id = trie.ValueAt(node);
            if (id < 0)
            {
                continue;
            }

            var type = types[id];
            if (type == PieceType.Unused)
            {
                continue;
            }

            var length = end - start;
            // SentencePiece's `auto score = user_defined ? length * max_score - 0.1 : GetScore(id)` has type
            // double (the bonus branch is double), so the candidate is summed and compared in double and
            // only stored as float. That precision decides ties, e.g. "abab…ab": keep it.
            var score = type == PieceType.UserDefined ? (length * (double)_maxScore) - 0.1 : scores[id];
            var candidate = score + scoreHere;
            if (startsAt[end] == -1 || candidate > bestScore[end])
            {
                bestScore[end] = (float)candidate;
                startsAt[end] = start;
                pieceId[end] = id;
            }

            if (length == charLength)
            {
                hasSingleCharacterPiece = true;
            }
        }

        if (!hasSingleCharacterPiece)
        {
            var end = start + charLength;
            var candidate = _unknownScore + scoreHere;
            if (startsAt[end] == -1 || candidate > bestScore[end])
            {
                bestScore[end] = candidate;
                startsAt[end] = start;
                pieceId[end] = UnkId;
            }
        }
    }

    /// <summary>
    /// Backtracks the best path from the end of the lattice, writing ids right to left into the tail of the buffer, then
    /// moves them down merging consecutive unknown pieces; returns the count. <paramref name="ends"/>, when given, gets
    /// each id's end (a byte offset of the normalised text).
    /// </summary>
    private int Backtrack(int size, int[] startsAt, int[] pieceId, ref int[] ids, List<int>? ends)
    {
        var pieceCount = 0;
        for (var end = size; end > 0; end = startsAt[end])
        {
            pieceCount++;
        }

        EnsureCapacity(ref ids, pieceCount + 1);
        var pieceEnds = ends is null ? [] : new int[pieceCount];
        var write = pieceCount;
        for (var end = size; end > 0; end = startsAt[end])
        {
            ids[--write] = pieceId[end];
            if (ends is not null)
            {
                pieceEnds[write] = end;
            }
        }

        var count = 0;
        for (var i = 0; i < pieceCount; i++)
        {
            var id = ids[i];
            if (id == UnkId && count > 0 && ids[count - 1] == UnkId)
            {
                if (ends is not null)
                {
                    ends[^1] = pieceEnds[i];
                }

                continue;
            }

            ids[count++] = id;
            ends?.Add(pieceEnds[i]);
        }

        return count;
    }

    /// <summary>
    /// Decodes ids to text as SentencePiece does: pieces concatenated with ▁ as a space, the leading space of the
    /// first visible piece dropped. With <paramref name="skipSpecialTokens"/> pad, eos, unknown and other control
    /// pieces and T5's sentinel ids are left out; otherwise unknown renders as SentencePiece's " ⁇ ", control pieces
    /// as their text (e.g. <c>&lt;/s&gt;</c>) and sentinels as <c>&lt;extra_id_N&gt;</c>.
    /// Ids above the sentinels (T5 pads its embedding to 32128 rows) have no text and are always left out.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is negative.</exception>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = true)
    {
        // Two passes over the ids: measure, then write into the string's own buffer, so the result is the only
        // allocation.
        var length = 0;
        var atStart = true;
        foreach (var id in ids)
        {
            var surface = SurfaceOf(id, skipSpecialTokens, atStart);
            if (surface is not null)
            {
                length += surface.Length;
                atStart &= surface.Length == 0;
            }
        }

        if (length == 0)
        {
            return string.Empty;
        }

        // A span cannot be captured by the string.Create callback: pass a pooled copy.
        var copy = ArrayPool<int>.Shared.Rent(ids.Length);
        try
        {
            ids.CopyTo(copy);
            return string.Create(length, (this, copy, ids.Length, skipSpecialTokens), static (chars, state) =>
            {
                (var tokenizer, var idArray, var count, var skip) = state;
                var position = 0;
                var atStart = true;
                for (var i = 0; i < count; i++)
                {
                    var surface = tokenizer.SurfaceOf(idArray[i], skip, atStart);
                    if (surface is not null)
                    {
                        surface.CopyTo(chars[position..]);
                        position += surface.Length;
                        atStart &= surface.Length == 0;
                    }
                }
            });
        }
        finally
        {
            ArrayPool<int>.Shared.Return(copy);
        }
    }

    /// <summary>
    /// The text of one id, or null when it is skipped. <paramref name="atStart"/> is true while nothing has been
    /// written yet: SentencePiece drops the leading ▁ of a piece exactly then.
    /// </summary>
    private string? SurfaceOf(int id, bool skipSpecialTokens, bool atStart)
    {
        if (id < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(id), id, "Token ids cannot be negative.");
        }

        if (id >= _pieces.Length)
        {
            return skipSpecialTokens || id >= _pieces.Length + ExtraIdCount ? null : ExtraIdPiece(id);
        }

        switch (_types[id])
        {
            case PieceType.Control:
                return skipSpecialTokens ? null : _pieces[id];
            case PieceType.Unknown:
                return skipSpecialTokens ? null : _unknownSurface;
            default:
                return atStart ? _leadingSurfaces[id] : _surfaces[id];
        }
    }

    private string ExtraIdPiece(int id) => _extraIdPieces[id - _pieces.Length];

    private static void EnsureCapacity(ref int[] ids, int needed)
    {
        if (ids.Length >= needed)
        {
            return;
        }

        var larger = ArrayPool<int>.Shared.Rent(Math.Max(needed, ids.Length * 2));
        ids.CopyTo(larger, 0);
        ArrayPool<int>.Shared.Return(ids);
        ids = larger;
    }
}
