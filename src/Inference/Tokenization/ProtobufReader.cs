using System.Buffers.Binary;

namespace Serverless.Inference.Tokenization;

/// <summary>
/// A minimal reader of the protobuf wire format: enough for SentencePiece's <c>ModelProto</c>, so the tokenizer
/// needs no protobuf package. Throws <see cref="InvalidDataException"/> on anything malformed.
/// </summary>
internal ref struct ProtobufReader(ReadOnlySpan<byte> data)
{
    public const int WireVarint = 0;
    public const int WireFixed64 = 1;
    public const int WireLengthDelimited = 2;
    public const int WireFixed32 = 5;

    private readonly ReadOnlySpan<byte> _data = data;
    private int _position;

    public readonly bool End => _position >= _data.Length;

    /// <summary>Reads the next tag; returns false at the end of the message.</summary>
    public bool TryReadTag(out int fieldNumber, out int wireType)
    {
        if (End)
        {
            fieldNumber = 0;
            wireType = 0;
            return false;
        }

        var tag = ReadVarint();
        fieldNumber = checked((int)(tag >> 3));
        wireType = (int)(tag & 7);
        if (fieldNumber == 0)
        {
            throw new InvalidDataException($"Invalid protobuf field number 0 at byte {_position}.");
        }

        return true;
    }

    public ulong ReadVarint()
    {
        ulong result = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (_position >= _data.Length)
            {
                throw new InvalidDataException("Truncated protobuf varint.");
            }

            var b = _data[_position++];
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return result;
            }
        }

        throw new InvalidDataException("Protobuf varint longer than 10 bytes.");
    }

    /// <summary>An int32 field: negative values are sign-extended to 64 bits on the wire.</summary>
    public int ReadInt32() => unchecked((int)ReadVarint());

    public bool ReadBool() => ReadVarint() != 0;

    public float ReadFloat()
    {
        var bytes = Take(4);
        return BinaryPrimitives.ReadSingleLittleEndian(bytes);
    }

    public ReadOnlySpan<byte> ReadBytes()
    {
        var length = ReadVarint();
        if (length > (ulong)(_data.Length - _position))
        {
            throw new InvalidDataException($"Protobuf length {length} runs past the end of the data at byte {_position}.");
        }

        return Take((int)length);
    }

    public void Skip(int wireType)
    {
        switch (wireType)
        {
            case WireVarint:
                ReadVarint();
                break;
            case WireFixed64:
                Take(8);
                break;
            case WireLengthDelimited:
                ReadBytes();
                break;
            case WireFixed32:
                Take(4);
                break;
            default:
                throw new InvalidDataException($"Unsupported protobuf wire type {wireType} at byte {_position}.");
        }
    }

    /// <summary>Checks that the field has the wire type the schema promises, so a wrong file fails loudly.</summary>
    public readonly void Expect(int wireType, int expected, string field)
    {
        if (wireType != expected)
        {
            throw new InvalidDataException($"Protobuf field {field} has wire type {wireType}, expected {expected}.");
        }
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count > _data.Length - _position)
        {
            throw new InvalidDataException($"Truncated protobuf data at byte {_position}.");
        }

        var slice = _data.Slice(_position, count);
        _position += count;
        return slice;
    }
}
