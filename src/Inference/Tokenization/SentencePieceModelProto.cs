using System.Text;

namespace Serverless.Inference.Tokenization;

/// <summary>The piece types of SentencePiece's <c>ModelProto.SentencePiece.Type</c> (note UNUSED is 5, BYTE 6).</summary>
internal enum PieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>
/// The parts of a SentencePiece <c>ModelProto</c> (<c>sentencepiece_model.proto</c>) that encoding and decoding
/// read, parsed by hand from the protobuf wire format. Field numbers follow that schema; absent fields take the
/// schema's defaults.
/// </summary>
internal sealed class SentencePieceModelProto
{
    public List<string> Pieces { get; } = [];
    public List<float> Scores { get; } = [];
    public List<PieceType> Types { get; } = [];

    // TrainerSpec (field 2).
    public int ModelType { get; private set; } = 1; // 1 = UNIGRAM
    public bool TreatWhitespaceAsSuffix { get; private set; }
    public bool ByteFallback { get; private set; }
    public string UnkSurface { get; private set; } = " \u2047 ";
    public string EosPiece { get; private set; } = "</s>";
    public string PadPiece { get; private set; } = "<pad>";

    // NormalizerSpec (field 3).
    public string NormalizerName { get; private set; } = "";
    public byte[] PrecompiledCharsMap { get; private set; } = [];
    public bool AddDummyPrefix { get; private set; } = true;
    public bool RemoveExtraWhitespaces { get; private set; } = true;
    public bool EscapeWhitespaces { get; private set; } = true;

    public static SentencePieceModelProto Parse(ReadOnlySpan<byte> data)
    {
        var model = new SentencePieceModelProto();
        var reader = new ProtobufReader(data);
        while (reader.TryReadTag(out var field, out var wire))
        {
            switch (field)
            {
                case 1:
                    reader.Expect(wire, ProtobufReader.WireLengthDelimited, "ModelProto.pieces");
                    model.ReadPiece(reader.ReadBytes());
                    break;
                case 2:
                    reader.Expect(wire, ProtobufReader.WireLengthDelimited, "ModelProto.trainer_spec");
                    model.ReadTrainerSpec(reader.ReadBytes());
                    break;
                case 3:
                    reader.Expect(wire, ProtobufReader.WireLengthDelimited, "ModelProto.normalizer_spec");
                    model.ReadNormalizerSpec(reader.ReadBytes());
                    break;
                default:
                    reader.Skip(wire);
                    break;
            }
        }

        return model;
    }

    private void ReadPiece(ReadOnlySpan<byte> data)
    {
        var piece = "";
        var score = 0f;
        var type = PieceType.Normal;
        var reader = new ProtobufReader(data);
        while (reader.TryReadTag(out var field, out var wire))
        {
            switch (field)
            {
                case 1:
                    reader.Expect(wire, ProtobufReader.WireLengthDelimited, "SentencePiece.piece");
                    piece = DecodeUtf8(reader.ReadBytes(), "SentencePiece.piece");
                    break;
                case 2:
                    reader.Expect(wire, ProtobufReader.WireFixed32, "SentencePiece.score");
                    score = reader.ReadFloat();
                    break;
                case 3:
                    reader.Expect(wire, ProtobufReader.WireVarint, "SentencePiece.type");
                    var t = reader.ReadInt32();
                    if (t is < 1 or > 6)
                    {
                        throw new InvalidDataException($"Piece {Pieces.Count} has unknown type {t}.");
                    }

                    type = (PieceType)t;
                    break;
                default:
                    reader.Skip(wire);
                    break;
            }
        }

        Pieces.Add(piece);
        Scores.Add(score);
        Types.Add(type);
    }

    private void ReadTrainerSpec(ReadOnlySpan<byte> data)
    {
        var reader = new ProtobufReader(data);
        while (reader.TryReadTag(out var field, out var wire))
        {
            switch (field)
            {
                case 3 when wire == ProtobufReader.WireVarint:
                    ModelType = reader.ReadInt32();
                    break;
                case 24 when wire == ProtobufReader.WireVarint:
                    TreatWhitespaceAsSuffix = reader.ReadBool();
                    break;
                case 35 when wire == ProtobufReader.WireVarint:
                    ByteFallback = reader.ReadBool();
                    break;
                case 44 when wire == ProtobufReader.WireLengthDelimited:
                    UnkSurface = DecodeUtf8(reader.ReadBytes(), "TrainerSpec.unk_surface");
                    break;
                case 47 when wire == ProtobufReader.WireLengthDelimited:
                    EosPiece = DecodeUtf8(reader.ReadBytes(), "TrainerSpec.eos_piece");
                    break;
                case 48 when wire == ProtobufReader.WireLengthDelimited:
                    PadPiece = DecodeUtf8(reader.ReadBytes(), "TrainerSpec.pad_piece");
                    break;
                default:
                    reader.Skip(wire);
                    break;
            }
        }
    }

    private void ReadNormalizerSpec(ReadOnlySpan<byte> data)
    {
        var reader = new ProtobufReader(data);
        while (reader.TryReadTag(out var field, out var wire))
        {
            switch (field)
            {
                case 1 when wire == ProtobufReader.WireLengthDelimited:
                    NormalizerName = DecodeUtf8(reader.ReadBytes(), "NormalizerSpec.name");
                    break;
                case 2 when wire == ProtobufReader.WireLengthDelimited:
                    PrecompiledCharsMap = reader.ReadBytes().ToArray();
                    break;
                case 3 when wire == ProtobufReader.WireVarint:
                    AddDummyPrefix = reader.ReadBool();
                    break;
                case 4 when wire == ProtobufReader.WireVarint:
                    RemoveExtraWhitespaces = reader.ReadBool();
                    break;
                case 5 when wire == ProtobufReader.WireVarint:
                    EscapeWhitespaces = reader.ReadBool();
                    break;
                default:
                    reader.Skip(wire);
                    break;
            }
        }
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static string DecodeUtf8(ReadOnlySpan<byte> bytes, string field)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidDataException($"{field} is not valid UTF-8.", e);
        }
    }
}
