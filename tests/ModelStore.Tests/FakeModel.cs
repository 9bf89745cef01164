using System.Security.Cryptography;
using Azure.Storage.Blobs;

namespace Serverless.ModelStore.Tests;

/// <summary>A folder shaped like an Optimum export of T5, filled with random bytes (a few MB) and its files' hashes.</summary>
internal sealed class FakeModel : IDisposable
{
    public string Directory { get; }
    public Dictionary<string, string> Hashes { get; } = new(StringComparer.Ordinal);

    public FakeModel(bool underOnnx = false, int encoderBytes = 3 << 20, bool merged = true, bool withDecoder = true)
    {
        Directory = Path.Combine(Path.GetTempPath(), "modelstore-fake", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        var graphs = underOnnx ? "onnx/" : "";
        Write("config.json", System.Text.Encoding.UTF8.GetBytes($$"""{"model_type":"t5","id":"{{Guid.NewGuid()}}"}"""));
        Write("generation_config.json", System.Text.Encoding.UTF8.GetBytes("""{"decoder_start_token_id":0}"""));
        Write("spiece.model", RandomNumberGenerator.GetBytes(200_000));
        Write("tokenizer.json", RandomNumberGenerator.GetBytes(50_000));
        Write(graphs + "encoder_model.onnx", RandomNumberGenerator.GetBytes(encoderBytes));
        if (withDecoder)
        {
            if (merged)
            {
                Write(graphs + "decoder_model_merged.onnx", RandomNumberGenerator.GetBytes(2 << 20));
            }
            else
            {
                Write(graphs + "decoder_model.onnx", RandomNumberGenerator.GetBytes(1 << 20));
                Write(graphs + "decoder_with_past_model.onnx", RandomNumberGenerator.GetBytes(1 << 20));
            }
        }
        // Not a model file: must not be uploaded.
        Write("README.md", "hello"u8.ToArray(), track: false);
    }

    public void Write(string relative, byte[] content, bool track = true)
    {
        var path = Path.Combine(Directory, relative);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
        if (track) Hashes[relative] = Sha(content);
    }

    public static string Sha(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content));

    /// <summary>Uploads the files one by one without a manifest, as <c>az storage blob upload-batch</c> would.</summary>
    public async Task UploadWithoutManifestAsync(BlobContainerClient container, string prefix)
    {
        await container.CreateIfNotExistsAsync();
        foreach (var relative in Hashes.Keys)
            await container.GetBlobClient(prefix + relative).UploadAsync(Path.Combine(Directory, relative), overwrite: true);
    }

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

/// <summary>
/// A real but trivial "model": loading opens every file in the folder and hashes it, so a test can see exactly which
/// bytes the loader was given.
/// </summary>
internal sealed class HashedModel : IDisposable
{
    public IReadOnlyDictionary<string, string> Hashes { get; }
    public bool IsDisposed { get; private set; }

    private HashedModel(IReadOnlyDictionary<string, string> hashes) => Hashes = hashes;

    public static HashedModel Load(string directory, CancellationToken cancellationToken)
    {
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var path in System.IO.Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(directory, path).Replace(Path.DirectorySeparatorChar, '/');
            if (relative.StartsWith('.')) continue; // the store's own .cache.json and .lock
            cancellationToken.ThrowIfCancellationRequested();
            using var stream = File.OpenRead(path);
            hashes[relative] = Convert.ToHexStringLower(SHA256.HashData(stream));
        }
        return new HashedModel(hashes);
    }

    public void Dispose() => IsDisposed = true;
}

/// <summary>Counts this provider's loads (the static counter is shared by tests running in parallel).</summary>
internal sealed class CountingLoader
{
    private int _loads;
    private readonly List<HashedModel> _models = [];
    public int Loads => Volatile.Read(ref _loads);
    public IReadOnlyList<HashedModel> Models { get { lock (_models) return [.. _models]; } }

    public HashedModel Load(string directory, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _loads);
        var model = HashedModel.Load(directory, cancellationToken);
        lock (_models) _models.Add(model);
        return model;
    }
}
