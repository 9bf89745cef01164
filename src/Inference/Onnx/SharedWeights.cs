using System.Security.Cryptography;

namespace Serverless.Inference.Onnx;

/// <summary>
/// The weights already written to the external-data files of one folder, by content, so that a graph saved into the same
/// folder later points at those bytes instead of writing them again (<see cref="OnnxModelFile.Save"/>). An Optimum T5
/// export repeats the decoder's weights in both decoders and the shared embedding in the encoder: flan-t5-small's 593 MB
/// of graphs hold 308 MB of distinct weights.
/// </summary>
internal sealed class SharedWeights
{
    private readonly Dictionary<string, (string Location, long Offset)> _written;

    /// <summary>An empty set for graphs saved into <paramref name="folder"/>.</summary>
    public SharedWeights(string folder) : this(Path.GetFullPath(folder), new(StringComparer.Ordinal), adds: true)
    {
    }

    private SharedWeights(string folder, Dictionary<string, (string Location, long Offset)> written, bool adds)
    {
        Folder = folder;
        _written = written;
        Adds = adds;
    }

    /// <summary>The folder whose files the locations name.</summary>
    public string Folder { get; }

    /// <summary>Whether a graph saved with this set adds its own weights to it (false: it only reuses the others').</summary>
    public bool Adds { get; }

    /// <summary>The same set for a graph that may reuse its weights but whose own file nobody else should need to read (a
    /// graph the engine may skip, such as the merged decoder beside the split pair).</summary>
    public SharedWeights ReuseOnly() => new(Folder, _written, adds: false);

    internal (string Location, long Offset)? Find(ReadOnlySpan<byte> data) =>
        _written.TryGetValue(Key(data), out var found) ? found : null;

    internal void Add(ReadOnlySpan<byte> data, string location, long offset)
    {
        if (Adds)
            _written.TryAdd(Key(data), (location, offset));
    }

    private static string Key(ReadOnlySpan<byte> data) => Convert.ToHexString(SHA256.HashData(data));
}
