using Google.Protobuf;
using Onnx;

namespace Serverless.Inference.Onnx;

/// <summary>
/// Reads and writes ONNX models with the protobuf schema. Tensors stored as external data are read into memory on
/// load; on save, large models put their tensors in one <c>{file}_data</c> file beside the model, since a protobuf
/// message cannot exceed 2 GiB.
/// </summary>
internal static class OnnxModelFile
{
    /// <summary>Offsets in the external-data file are page-aligned so that ONNX Runtime can map them.</summary>
    private const int ExternalAlignment = 4096;

    /// <summary>Tensors smaller than this stay inside the model even when external data is written.</summary>
    internal const int ExternalMinimumBytes = 1024;

    public static ModelProto Load(string path)
    {
        if (!File.Exists(path))
            throw new ModelFormatException($"The model file '{path}' does not exist.");
        ModelProto model;
        try
        {
            using var stream = File.OpenRead(path);
            model = ModelProto.Parser.ParseFrom(stream);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new ModelFormatException($"'{path}' is not an ONNX model (protobuf parse failed: {e.Message}).", e);
        }
        if (model.Graph is null)
            throw new ModelFormatException($"'{path}' has no graph.");
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        foreach (var graph in GraphWalker.AllGraphs(model.Graph))
        {
            foreach (var tensor in graph.Initializer)
                ResolveExternal(tensor, directory, path);
            foreach (var node in graph.Node)
            {
                foreach (var attribute in node.Attribute)
                {
                    if (attribute.T is { } t)
                        ResolveExternal(t, directory, path);
                }
            }
        }
        return model;
    }

    /// <summary>
    /// Writes the model; returns the files written (the model, and its external-data file if any bytes went there). With
    /// <paramref name="shared"/> (for graphs saved into its folder), a tensor whose bytes another graph wrote already points
    /// at them rather than being written again.
    /// </summary>
    public static IReadOnlyList<string> Save(ModelProto model, string path, long externalDataThreshold, SharedWeights? shared = null)
    {
        var full = Path.GetFullPath(path);
        var dataName = Path.GetFileName(full) + "_data";
        var dataPath = Path.Combine(Path.GetDirectoryName(full)!, dataName);
        if (shared is not null && shared.Folder != Path.GetDirectoryName(full))
            throw new ArgumentException($"The shared weights are those of '{shared.Folder}', not of the folder of '{full}'.", nameof(shared));
        var tensors = GraphWalker.AllGraphs(model.Graph).SelectMany(g => g.Initializer).ToList();
        var total = tensors.Sum(t => (long)t.RawData.Length);
        if (File.Exists(dataPath))
            File.Delete(dataPath);
        if (total <= externalDataThreshold && externalDataThreshold > 0)
        {
            WriteAtomically(full, stream => model.WriteTo(stream));
            return [full];
        }

        // Move large raw tensors out, in graph order (deterministic), then write the now small model.
        var moved = new List<(TensorProto Tensor, ByteString Data)>();
        long written = 0;
        WriteAtomically(dataPath, stream =>
        {
            foreach (var tensor in tensors)
            {
                if (tensor.RawData.Length < ExternalMinimumBytes)
                    continue;
                var data = tensor.RawData;
                var (location, offset) = shared?.Find(data.Span) ?? (dataName, -1);
                if (offset < 0)
                {
                    var padding = (ExternalAlignment - written % ExternalAlignment) % ExternalAlignment;
                    stream.Write(new byte[padding]);
                    offset = written + padding;
                    data.WriteTo(stream);
                    written = offset + data.Length;
                    shared?.Add(data.Span, dataName, offset);
                }
                tensor.DataLocation = TensorProto.Types.DataLocation.External;
                tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
                tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = data.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                tensor.ClearRawData();
                moved.Add((tensor, data));
            }
        });
        try
        {
            WriteAtomically(full, stream => model.WriteTo(stream));
        }
        finally
        {
            // The model stays usable in memory after a save.
            foreach ((var tensor, var data) in moved)
            {
                tensor.ExternalData.Clear();
                tensor.ClearDataLocation();
                tensor.RawData = data;
            }
        }
        if (written > 0)
            return [full, dataPath];
        File.Delete(dataPath);
        return [full];
    }

    private static void WriteAtomically(string path, Action<Stream> write)
    {
        var temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            write(stream);
        File.Move(temporary, path, overwrite: true);
    }

    private static void ResolveExternal(TensorProto tensor, string directory, string modelPath)
    {
        if (tensor.DataLocation != TensorProto.Types.DataLocation.External)
            return;
        string? location = null;
        long offset = 0, length = -1;
        foreach (var entry in tensor.ExternalData)
        {
            switch (entry.Key)
            {
                case "location": location = entry.Value; break;
                case "offset": offset = long.Parse(entry.Value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "length": length = long.Parse(entry.Value, System.Globalization.CultureInfo.InvariantCulture); break;
            }
        }
        if (location is null)
            throw new ModelFormatException($"'{modelPath}': tensor '{tensor.Name}' is stored as external data but names no location.");
        var file = Path.GetFullPath(Path.Combine(directory, location));
        if (!file.StartsWith(directory + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ModelFormatException($"'{modelPath}': tensor '{tensor.Name}' points outside the model folder ('{location}').");
        if (!File.Exists(file))
            throw new ModelFormatException($"'{modelPath}': tensor '{tensor.Name}' is stored in '{location}', which is missing beside the model.");
        using var stream = File.OpenRead(file);
        if (length < 0)
            length = stream.Length - offset;
        if (offset < 0 || offset + length > stream.Length || length > int.MaxValue)
            throw new ModelFormatException($"'{modelPath}': tensor '{tensor.Name}' reads {length} bytes at offset {offset} of '{location}' ({stream.Length} bytes).");
        var bytes = new byte[length];
        stream.Position = offset;
        stream.ReadExactly(bytes);
        tensor.RawData = UnsafeByteOperations.UnsafeWrap(bytes);
        tensor.ExternalData.Clear();
        tensor.ClearDataLocation();
    }
}
