using System.Security.Cryptography;

namespace Serverless.Functions.Tests.Infrastructure;

/// <summary>
/// A temporary folder laid out as the Hugging Face hub cache keeps a download: the content once under
/// <c>blobs/&lt;sha256&gt;</c>, and <c>snapshots/&lt;revision&gt;/&lt;name&gt;</c> as relative symbolic links to it.
/// </summary>
internal sealed class HuggingFaceCache : IDisposable
{
    private readonly string _root;

    private HuggingFaceCache(string root, string snapshot)
    {
        _root = root;
        Snapshot = snapshot;
    }

    /// <summary>The snapshot folder: what a user passes to <c>model upload</c>.</summary>
    public string Snapshot { get; }

    /// <param name="source">Files to take (every file at its top).</param>
    /// <param name="extra">More file names to add with a few random bytes each (weights for other frameworks).</param>
    public static HuggingFaceCache FromFolder(string source, IEnumerable<string> extra)
    {
        var root = Path.Combine(Path.GetTempPath(), "hf-cache-" + Guid.NewGuid().ToString("N"), "models--google--flan-t5-small");
        var blobs = Path.Combine(root, "blobs");
        var snapshot = Path.Combine(root, "snapshots", "0123456789abcdef0123456789abcdef01234567");
        Directory.CreateDirectory(blobs);
        Directory.CreateDirectory(snapshot);

        void Add(string name, byte[] content)
        {
            var hash = Convert.ToHexStringLower(SHA256.HashData(content));
            var blob = Path.Combine(blobs, hash);
            if (!File.Exists(blob)) File.WriteAllBytes(blob, content);
            File.CreateSymbolicLink(Path.Combine(snapshot, name), Path.Combine("..", "..", "blobs", hash));
        }

        foreach (var file in Directory.EnumerateFiles(source)) Add(Path.GetFileName(file), File.ReadAllBytes(file));
        foreach (var name in extra) Add(name, RandomNumberGenerator.GetBytes(1000));
        return new HuggingFaceCache(Path.GetDirectoryName(root)!, snapshot);
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
