using System.Buffers;
using System.Buffers.Binary;

namespace Serverless.Inference.Tokenization;

/// <summary>
/// SentencePiece's normaliser (<c>normalizer.cc</c>) over UTF-8 bytes: the precompiled character map (e.g.
/// nmt_nfkc) applied by longest-prefix match, then whitespace handling — drop leading, trailing and repeated
/// spaces, add the dummy-prefix space, and escape spaces as ▁ (U+2581).
/// </summary>
/// <remarks>
/// The precompiled map is a little-endian uint32 byte count, a Darts-clone double array of that many bytes whose
/// leaf values are offsets into the NUL-terminated replacement strings that follow it.
/// </remarks>
internal sealed class SentencePieceNormalizer
{
    private static ReadOnlySpan<byte> SpaceSymbol => "\u2581"u8;

    private readonly uint[] _units;
    private readonly byte[] _replacements;
    private readonly ByteTrie? _userDefined;
    private readonly bool _addDummyPrefix;
    private readonly bool _removeExtraWhitespaces;
    private readonly bool _escapeWhitespaces;

    public SentencePieceNormalizer(SentencePieceModelProto model, ByteTrie? userDefinedSymbols)
    {
        (_units, _replacements) = ParseCharsMap(model.PrecompiledCharsMap);
        _userDefined = userDefinedSymbols;
        _addDummyPrefix = model.AddDummyPrefix;
        _removeExtraWhitespaces = model.RemoveExtraWhitespaces;
        _escapeWhitespaces = model.EscapeWhitespaces;
    }

    private static (uint[] Units, byte[] Replacements) ParseCharsMap(byte[] blob)
    {
        if (blob.Length == 0)
        {
            // The "identity" normaliser: no map, every character is copied.
            return ([], []);
        }

        if (blob.Length < 4)
        {
            throw new InvalidDataException("The precompiled charsmap is shorter than its 4-byte header.");
        }

        var trieBytes = BinaryPrimitives.ReadUInt32LittleEndian(blob);
        if (trieBytes == 0 || trieBytes % 4 != 0 || trieBytes > (uint)(blob.Length - 4))
        {
            throw new InvalidDataException($"The precompiled charsmap declares a {trieBytes}-byte trie in a {blob.Length}-byte blob.");
        }

        var units = new uint[trieBytes / 4];
        for (var i = 0; i < units.Length; i++)
        {
            units[i] = BinaryPrimitives.ReadUInt32LittleEndian(blob.AsSpan(4 + (i * 4)));
        }

        return (units, blob.AsSpan(4 + (int)trieBytes).ToArray());
    }

    /// <summary>
    /// Normalises <paramref name="input"/> into <paramref name="output"/> (rented from <see cref="ArrayPool{T}.Shared"/>,
    /// replaced by a larger rented array when it fills up) and returns the number of bytes written.
    /// </summary>
    public int Normalize(ReadOnlySpan<byte> input, ref byte[] output)
    {
        var length = 0;

        if (_removeExtraWhitespaces)
        {
            // Leading characters that normalise to exactly one space are dropped.
            while (!input.IsEmpty)
            {
                var consumed = NormalizePrefix(input, out var replacement);
                if (replacement.Length != 1 || replacement[0] != (byte)' ')
                {
                    break;
                }

                input = input[consumed..];
            }
        }

        if (input.IsEmpty)
        {
            return 0;
        }

        if (_addDummyPrefix)
        {
            Append(ref output, ref length, _escapeWhitespaces ? SpaceSymbol : " "u8);
        }

        var previousWasSpace = _removeExtraWhitespaces;
        while (!input.IsEmpty)
        {
            var consumed = NormalizePrefix(input, out var piece);
            if (previousWasSpace)
            {
                // A run of spaces collapses into the one that ended the previous piece.
                while (!piece.IsEmpty && piece[0] == (byte)' ')
                {
                    piece = piece[1..];
                }
            }

            if (!piece.IsEmpty)
            {
                foreach (var b in piece)
                {
                    if (b == (byte)' ' && _escapeWhitespaces)
                    {
                        Append(ref output, ref length, SpaceSymbol);
                    }
                    else
                    {
                        Append(ref output, ref length, b);
                    }
                }

                previousWasSpace = piece[^1] == (byte)' ';
            }

            input = input[consumed..];
            if (!_removeExtraWhitespaces)
            {
                previousWasSpace = false;
            }
        }

        if (_removeExtraWhitespaces)
        {
            // Trailing spaces (escaped or not) are dropped, whichever input character produced them.
            var space = _escapeWhitespaces ? SpaceSymbol : " "u8;
            while (length >= space.Length && output.AsSpan(length - space.Length, space.Length).SequenceEqual(space))
            {
                length -= space.Length;
            }
        }

        return length;
    }

    /// <summary>
    /// Normalises the longest matching prefix of <paramref name="input"/>: a user-defined symbol is kept as is;
    /// otherwise the longest key of the character map is replaced; otherwise one UTF-8 character is copied.
    /// Returns the number of input bytes consumed.
    /// </summary>
    private int NormalizePrefix(ReadOnlySpan<byte> input, out ReadOnlySpan<byte> replacement)
    {
        if (_userDefined is not null)
        {
            var matched = _userDefined.LongestPrefix(input);
            if (matched > 0)
            {
                replacement = input[..matched];
                return matched;
            }
        }

        var longestLength = 0;
        var longestValue = 0;
        if (_units.Length > 0)
        {
            // Darts-clone commonPrefixSearch; the last hit is the longest.
            var units = _units;
            var id = Offset(units[0]);
            for (var i = 0; i < input.Length; i++)
            {
                var label = input[i];
                id ^= label;
                if (id >= (uint)units.Length)
                {
                    break;
                }

                var unit = units[id];
                if ((unit & ((1u << 31) | 0xFFu)) != label)
                {
                    break;
                }

                id ^= Offset(unit);
                if (((unit >> 8) & 1) == 1 && id < (uint)units.Length)
                {
                    longestLength = i + 1;
                    longestValue = (int)(units[id] & 0x7FFFFFFFu);
                }
            }
        }

        if (longestLength == 0)
        {
            var charLength = Math.Min(Utf8CharLength(input[0]), input.Length);
            replacement = input[..charLength];
            return charLength;
        }

        ReadOnlySpan<byte> rest = longestValue < _replacements.Length ? _replacements.AsSpan(longestValue) : [];
        var nul = rest.IndexOf((byte)0);
        replacement = nul >= 0 ? rest[..nul] : rest;
        return longestLength;
    }

    private static uint Offset(uint unit) => (unit >> 10) << (int)((unit & (1u << 9)) >> 6);

    /// <summary>SentencePiece's <c>OneCharLen</c>: the UTF-8 sequence length announced by a lead byte.</summary>
    public static int Utf8CharLength(byte lead) => (lead >> 4) switch
    {
        0xC or 0xD => 2,
        0xE => 3,
        0xF => 4,
        _ => 1,
    };

    private static void Append(ref byte[] output, ref int length, byte value)
    {
        if (length == output.Length)
        {
            Grow(ref output, length, 1);
        }

        output[length++] = value;
    }

    private static void Append(ref byte[] output, ref int length, ReadOnlySpan<byte> value)
    {
        if (length + value.Length > output.Length)
        {
            Grow(ref output, length, value.Length);
        }

        value.CopyTo(output.AsSpan(length));
        length += value.Length;
    }

    private static void Grow(ref byte[] output, int length, int extra)
    {
        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(output.Length * 2, length + extra));
        output.AsSpan(0, length).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(output);
        output = larger;
    }
}
