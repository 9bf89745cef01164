namespace Serverless.ModelStore;

/// <summary>
/// The external-data files an ONNX graph names (<c>TensorProto.external_data</c> entries with key <c>location</c>),
/// found by walking the protobuf wire format from disk: the tensors' inline bytes are skipped, not read, so a graph of
/// hundreds of MB costs a few seeks. Initializers of the main graph and of node subgraphs (the merged decoder's
/// <c>If</c> branches) and constant-node tensors are covered.
/// </summary>
internal static class OnnxExternalData
{
    // Field numbers of onnx.proto (ModelProto.graph, GraphProto.node/initializer, NodeProto.attribute,
    // AttributeProto.t/g/tensors/graphs, TensorProto.external_data, StringStringEntryProto.key/value).
    private const int ModelGraph = 7;
    private const int GraphNode = 1, GraphInitializer = 5, GraphSparseInitializer = 15;
    private const int NodeAttribute = 5;
    private const int AttributeTensor = 5, AttributeGraph = 6, AttributeTensors = 10, AttributeGraphs = 11;
    private const int TensorExternalData = 13;
    private const int SparseValues = 1;
    private const int EntryKey = 1, EntryValue = 2;

    private enum Kind { Model, Graph, Node, Attribute, Tensor, Sparse, Entry }

    /// <summary>The distinct <c>location</c> values of <paramref name="onnxPath"/>, relative to the graph's folder.</summary>
    /// <exception cref="InvalidDataException">The file is not a well-formed protobuf message.</exception>
    public static IReadOnlyList<string> ReadLocations(string onnxPath)
    {
        using var stream = new FileStream(onnxPath, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, FileOptions.RandomAccess);
        var locations = new SortedSet<string>(StringComparer.Ordinal);
        Walk(stream, stream.Length, Kind.Model, locations, depth: 0);
        return [.. locations];
    }

    private static (string? Key, string? Value) Walk(Stream s, long end, Kind kind, ISet<string> locations, int depth)
    {
        if (depth > 64) throw new InvalidDataException("ONNX graph nested too deeply.");
        string? key = null, value = null;
        while (s.Position < end)
        {
            var tag = ReadVarint(s);
            var field = (int)(tag >> 3);
            switch ((int)(tag & 7))
            {
                case 0: ReadVarint(s); break;
                case 1: Skip(s, 8, end); break;
                case 5: Skip(s, 4, end); break;
                case 2:
                    // Compared as unsigned before any cast: a corrupt length can exceed long.MaxValue.
                    var rawLength = ReadVarint(s);
                    if (rawLength > (ulong)(end - s.Position)) throw new InvalidDataException("ONNX protobuf field runs past its message.");
                    var length = (long)rawLength;
                    var fieldEnd = s.Position + length;
                    Kind? child = (kind, field) switch
                    {
                        (Kind.Model, ModelGraph) => Kind.Graph,
                        (Kind.Graph, GraphNode) => Kind.Node,
                        (Kind.Graph, GraphInitializer) => Kind.Tensor,
                        (Kind.Graph, GraphSparseInitializer) => Kind.Sparse,
                        (Kind.Node, NodeAttribute) => Kind.Attribute,
                        (Kind.Attribute, AttributeTensor or AttributeTensors) => Kind.Tensor,
                        (Kind.Attribute, AttributeGraph or AttributeGraphs) => Kind.Graph,
                        (Kind.Sparse, SparseValues) => Kind.Tensor,
                        (Kind.Tensor, TensorExternalData) => Kind.Entry,
                        _ => null,
                    };
                    if (kind == Kind.Entry && field is EntryKey or EntryValue && length <= 4096)
                    {
                        var text = ReadString(s, (int)length);
                        if (field == EntryKey) key = text; else value = text;
                    }
                    else if (child is { } c)
                    {
                        var (k, v) = Walk(s, fieldEnd, c, locations, depth + 1);
                        if (c == Kind.Entry && k == "location" && !string.IsNullOrEmpty(v)) locations.Add(v);
                    }
                    s.Position = fieldEnd;
                    break;
                default:
                    throw new InvalidDataException($"Unsupported protobuf wire type {tag & 7} in an ONNX file.");
            }
        }
        return (key, value);
    }

    private static ulong ReadVarint(Stream s)
    {
        ulong result = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            var b = s.ReadByte();
            if (b < 0) throw new InvalidDataException("ONNX file ends inside a varint.");
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw new InvalidDataException("Malformed varint in an ONNX file.");
    }

    private static void Skip(Stream s, long count, long end)
    {
        if (s.Position + count > end) throw new InvalidDataException("ONNX protobuf field runs past its message.");
        s.Position += count;
    }

    private static string ReadString(Stream s, int length)
    {
        var buffer = new byte[length];
        s.ReadExactly(buffer);
        return System.Text.Encoding.UTF8.GetString(buffer);
    }
}
