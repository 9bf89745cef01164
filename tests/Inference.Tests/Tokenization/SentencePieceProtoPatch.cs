namespace Serverless.Inference.Tests.Tokenization;

/// <summary>
/// Rewrites one int32 field of a SentencePiece <c>ModelProto</c>'s <c>trainer_spec</c> (field 2) on the protobuf wire
/// format, leaving every other byte as it was. Used to give T5's model (no BOS: <c>bos_id</c> -1) a BOS id that
/// Microsoft.ML.Tokenizers' SentencePieceTokenizer can load.
/// </summary>
internal static class SentencePieceProtoPatch
{
    public const int TrainerSpecField = 2;
    public const int BosIdField = 41;

    public static byte[] SetTrainerSpecInt32(byte[] model, int field, int value)
    {
        using var output = new MemoryStream();
        var position = 0;
        var patched = false;
        while (position < model.Length)
        {
            var start = position;
            var key = ReadVarint(model, ref position);
            if (key == ((TrainerSpecField << 3) | 2))
            {
                var length = checked((int)ReadVarint(model, ref position));
                var spec = PatchMessage(model.AsSpan(position, length), field, value);
                position += length;
                WriteVarint(output, key);
                WriteVarint(output, (ulong)spec.Length);
                output.Write(spec);
                patched = true;
                continue;
            }
            Skip(model, ref position, (int)(key & 7));
            output.Write(model.AsSpan(start, position - start));
        }
        if (!patched)
            throw new InvalidDataException("The model has no trainer_spec.");
        return output.ToArray();
    }

    private static byte[] PatchMessage(ReadOnlySpan<byte> message, int field, int value)
    {
        var bytes = message.ToArray();
        using var output = new MemoryStream();
        var position = 0;
        while (position < bytes.Length)
        {
            var start = position;
            var key = ReadVarint(bytes, ref position);
            var wire = (int)(key & 7);
            Skip(bytes, ref position, wire);
            if ((int)(key >> 3) == field && wire == 0)
                continue; // written once below
            output.Write(bytes.AsSpan(start, position - start));
        }
        WriteVarint(output, (ulong)((field << 3) | 0));
        WriteVarint(output, unchecked((ulong)(long)value)); // int32: negative values take ten bytes
        return output.ToArray();
    }

    private static void Skip(byte[] data, ref int position, int wire)
    {
        switch (wire)
        {
            case 0:
                ReadVarint(data, ref position);
                break;
            case 1:
                position += 8;
                break;
            case 2:
                var length = checked((int)ReadVarint(data, ref position));
                position += length;
                break;
            case 5:
                position += 4;
                break;
            default:
                throw new InvalidDataException($"Unsupported protobuf wire type {wire}.");
        }
    }

    private static ulong ReadVarint(byte[] data, ref int position)
    {
        ulong result = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            var b = data[position++];
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
                return result;
        }
        throw new InvalidDataException("Malformed varint.");
    }

    private static void WriteVarint(Stream output, ulong value)
    {
        while (value >= 0x80)
        {
            output.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        output.WriteByte((byte)value);
    }
}
