using System.Security.Cryptography;
using Azure;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace Serverless.ModelStore;

/// <summary>What <see cref="ModelUploader.VerifyAsync"/> found: one line per problem, empty when the copy is intact.</summary>
public sealed record ModelVerificationResult(string Prefix, bool HasManifest, int FilesChecked, long BytesChecked, IReadOnlyList<string> Problems)
{
    public bool IsValid => Problems.Count == 0;
}

/// <summary>One model version (prefix) in a container, as <see cref="ModelUploader.ListAsync"/> reports it.</summary>
public sealed record ModelVersionInfo(string Prefix, int FileCount, long TotalBytes, bool HasManifest, DateTimeOffset? LastModified);

/// <summary>Puts an Optimum export into Blob Storage, checks a remote copy, and lists what a container holds.</summary>
public static class ModelUploader
{
    private const int ParallelFiles = 3;
    private static readonly StorageTransferOptions Transfer = new()
    {
        MaximumConcurrency = 4,
        InitialTransferSize = 8 * 1024 * 1024,
        MaximumTransferSize = 8 * 1024 * 1024,
    };

    /// <summary>
    /// Chooses the files of <paramref name="localDirectory"/> to upload (<see cref="ModelLayout.SelectForUpload"/> plus
    /// the external-data files the chosen graphs reference, or every file with <paramref name="includeAll"/>) and lists
    /// the ones left out. Symbolic links are followed, as in a
    /// Hugging Face cache snapshot (<c>snapshots/&lt;rev&gt;/*</c> → <c>../../blobs/&lt;hash&gt;</c>).
    /// </summary>
    public static ModelUploadPlan Plan(string localDirectory, bool includeAll = false)
    {
        var root = Path.GetFullPath(localDirectory);
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"The model folder '{root}' does not exist.");
        var all = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(root, p).Replace(Path.DirectorySeparatorChar, '/'))
            .Where(p => p != ModelLayout.ManifestName)
            .Order(StringComparer.Ordinal)
            .ToList();
        var chosen = (includeAll ? all : ModelLayout.SelectForUpload(all)).ToHashSet(StringComparer.Ordinal);
        if (!includeAll)
        {
            foreach (var graph in chosen.Where(f => f.EndsWith(".onnx", StringComparison.Ordinal)).ToList())
                chosen.UnionWith(ExternalDataOf(root, graph, all));
        }
        return new ModelUploadPlan(root, all.Where(chosen.Contains).ToList(), all.Where(f => !chosen.Contains(f)).ToList());
    }

    /// <summary>The external-data files <paramref name="graph"/> references, as paths relative to <paramref name="root"/>.</summary>
    private static IEnumerable<string> ExternalDataOf(string root, string graph, IReadOnlyList<string> present)
    {
        IReadOnlyList<string> locations;
        try
        {
            locations = OnnxExternalData.ReadLocations(Path.Combine(root, graph));
        }
        catch (InvalidDataException)
        {
            // Not readable as ONNX: the engine says so when it loads the graph; choosing files does not judge content.
            yield break;
        }
        var folder = Path.GetDirectoryName(Path.Combine(root, graph))!;
        foreach (var location in locations)
        {
            var relative = Path.GetRelativePath(root, Path.GetFullPath(Path.Combine(folder, location))).Replace(Path.DirectorySeparatorChar, '/');
            if (relative.StartsWith("../", StringComparison.Ordinal) || Path.IsPathRooted(relative))
                throw new InvalidDataException($"The graph '{graph}' references external data '{location}' outside the model folder '{root}'.");
            if (!present.Contains(relative, StringComparer.Ordinal))
                throw new FileNotFoundException($"The graph '{graph}' references external data '{location}', which is not in the model folder '{root}'.", relative);
            yield return relative;
        }
    }

    /// <summary>
    /// Uploads the model files of <paramref name="localDirectory"/> (see <see cref="Plan"/>) under
    /// <paramref name="prefix"/>, creating the container if needed. The old manifest is deleted first and the new one
    /// written last, so readers never trust a half-finished upload.
    /// </summary>
    /// <returns>The manifest written.</returns>
    public static Task<ModelManifest> UploadAsync(
        string localDirectory, BlobContainerClient container, string prefix,
        IProgress<ModelTransferProgress>? progress = null, CancellationToken cancellationToken = default) =>
        UploadAsync(Plan(localDirectory), container, prefix, progress, cancellationToken);

    /// <summary>Uploads the files of <paramref name="plan"/>; see <see cref="UploadAsync(string, BlobContainerClient, string, IProgress{ModelTransferProgress}?, CancellationToken)"/>.</summary>
    public static async Task<ModelManifest> UploadAsync(
        ModelUploadPlan plan, BlobContainerClient container, string prefix,
        IProgress<ModelTransferProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(container);
        // Checked before any request: "../other/" in a blob URL would resolve into container "other".
        ModelStoreNames.ThrowIfInvalidContainer(container.Name, nameof(container));
        ModelStoreNames.ThrowIfInvalidPrefix(prefix, nameof(prefix));
        prefix = ModelStoreOptions.NormalizePrefix(prefix);
        var root = plan.Root;
        var files = plan.Files.ToList();
        var useQuantized = ModelLayout.FindMissing(files) is not null && ModelLayout.FindMissing(files, useQuantized: true) is null;
        if (ModelLayout.FindMissing(files, useQuantized) is { } missing)
            throw new ModelFileMissingException($"local folder '{root}'", Path.Combine(root, missing), files);
        // A link's own size is not the file's: read, size and hash the final target.
        var paths = files.ToDictionary(f => f, f => ResolveFile(Path.Combine(root, f)), StringComparer.Ordinal);

        // Graphs whose weights are inline are uploaded with them in <graph>.onnx_data, each distinct tensor once: a new
        // instance fetches half the bytes and ONNX Runtime opens the graphs about three times faster.
        using var staging = new ExternalWeightsStaging();
        var staged = await Task.Run(() => staging.Stage(files, paths, cancellationToken), cancellationToken).ConfigureAwait(false);
        foreach (var (file, path) in staged)
        {
            if (!paths.ContainsKey(file))
                files.Add(file);
            paths[file] = path;
        }

        try
        {
            await container.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            await container.GetBlobClient(prefix + ModelLayout.ManifestName).DeleteIfExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);

            // Blobs that already hold the same bytes (size + the sha256 metadata we wrote) are left alone, so a
            // re-upload keeps their ETags and every cache of them stays valid.
            var existing = new Dictionary<string, (long Size, string? Sha)>(StringComparer.Ordinal);
            await foreach (var item in container.GetBlobsAsync(new GetBlobsOptions { Prefix = prefix, Traits = BlobTraits.Metadata }, cancellationToken).ConfigureAwait(false))
                existing[item.Name[prefix.Length..]] = (item.Properties.ContentLength ?? -1, item.Metadata.TryGetValue("sha256", out var s) ? s : null);

            var sizes = files.ToDictionary(f => f, f => new FileInfo(paths[f]).Length);
            var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
            var aggregator = new TransferProgressAggregator(progress, sizes.Values.Sum(), files.Count);
            aggregator.Start();
            await Parallel.ForEachAsync(files.OrderByDescending(f => sizes[f]),
                new ParallelOptions { MaxDegreeOfParallelism = ParallelFiles, CancellationToken = cancellationToken },
                async (file, ct) =>
                {
                    var path = paths[file];
                    var sha = await ModelCacheSynchronizer.HashFileAsync(path, ct).ConfigureAwait(false);
                    lock (hashes) hashes[file] = sha;
                    var fileProgress = aggregator.ForFile();
                    if (existing.TryGetValue(file, out var remote) && remote.Size == sizes[file] && remote.Sha == sha)
                    {
                        fileProgress.Report(sizes[file]);
                        aggregator.FileCompleted();
                        return;
                    }
                    await container.GetBlobClient(prefix + file).UploadAsync(path, new BlobUploadOptions
                    {
                        TransferOptions = Transfer,
                        // Kept with the blob so a reader can see the intended hash without the manifest.
                        Metadata = new Dictionary<string, string> { ["sha256"] = sha },
                        ProgressHandler = fileProgress,
                    }, ct).ConfigureAwait(false);
                    aggregator.FileCompleted();
                }).ConfigureAwait(false);

            var manifest = new ModelManifest
            {
                CreatedUtc = DateTimeOffset.UtcNow,
                Files = files.Select(f => new ModelManifestFile(f, sizes[f], hashes[f])).ToList(),
            };
            await container.GetBlobClient(prefix + ModelLayout.ManifestName).UploadAsync(
                new BinaryData(manifest.ToUtf8Bytes()),
                new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" } },
                cancellationToken).ConfigureAwait(false);
            return manifest;
        }
        catch (RequestFailedException e)
        {
            throw StorageErrors.Map(e, container, null, []);
        }
        catch (Exception e) when (StorageErrors.MapOther(e, container) is { } mapped)
        {
            throw mapped;
        }
    }

    /// <summary>The file a path names, following symbolic links to the end; a dangling link is reported as such.</summary>
    private static string ResolveFile(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is null) return path;
        var target = info.ResolveLinkTarget(returnFinalTarget: true);
        return target is FileInfo { Exists: true } file
            ? file.FullName
            : throw new FileNotFoundException($"The model file '{path}' is a symbolic link to '{info.LinkTarget}', which does not exist.", path);
    }

    /// <summary>
    /// Checks a remote copy: with a manifest, every file exists with its size and its content hashes to the manifest's
    /// SHA-256 (streamed through the hash, not kept); without one, the required files are present.
    /// </summary>
    public static async Task<ModelVerificationResult> VerifyAsync(
        BlobContainerClient container, string prefix, IProgress<ModelTransferProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(container);
        ModelStoreNames.ThrowIfInvalidPrefix(prefix, nameof(prefix));
        prefix = ModelStoreOptions.NormalizePrefix(prefix);
        var problems = new List<string>();
        try
        {
            var listed = new Dictionary<string, BlobItem>(StringComparer.Ordinal);
            await foreach (var item in container.GetBlobsAsync(new GetBlobsOptions { Prefix = prefix }, cancellationToken).ConfigureAwait(false))
                listed[item.Name[prefix.Length..]] = item;

            if (!listed.ContainsKey(ModelLayout.ManifestName))
            {
                var modelFiles = listed.Keys.Where(ModelLayout.IsModelFile).ToList();
                if (ModelLayout.FindMissing(modelFiles) is { } m && ModelLayout.FindMissing(modelFiles, true) is not null)
                    problems.Add($"missing {prefix}{m}");
                problems.Add($"no {prefix}{ModelLayout.ManifestName}: contents cannot be checked (upload with `serverless model upload` to write one)");
                return new ModelVerificationResult(prefix, false, 0, 0, problems);
            }

            var content = (await container.GetBlobClient(prefix + ModelLayout.ManifestName).DownloadContentAsync(cancellationToken).ConfigureAwait(false)).Value.Content;
            ModelManifest manifest;
            try { manifest = ModelManifest.Parse(content.ToMemory().Span); }
            catch (Exception e) when (e is System.Text.Json.JsonException or FormatException)
            {
                problems.Add($"{prefix}{ModelLayout.ManifestName} is not a valid manifest: {e.Message}");
                return new ModelVerificationResult(prefix, true, 0, 0, problems);
            }

            var present = manifest.Files.Where(f => listed.ContainsKey(f.Name)).ToList();
            foreach (var f in manifest.Files.Except(present)) problems.Add($"missing {prefix}{f.Name}");
            foreach (var f in present.Where(f => listed[f.Name].Properties.ContentLength != f.Size))
                problems.Add($"{prefix}{f.Name}: {listed[f.Name].Properties.ContentLength} bytes, manifest says {f.Size}");

            var toHash = present.Where(f => listed[f.Name].Properties.ContentLength == f.Size).ToList();
            var aggregator = new TransferProgressAggregator(progress, toHash.Sum(f => f.Size), toHash.Count);
            aggregator.Start();
            await Parallel.ForEachAsync(toHash, new ParallelOptions { MaxDegreeOfParallelism = ParallelFiles, CancellationToken = cancellationToken },
                async (f, ct) =>
                {
                    using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                    var filter = new HashSinkStream(sha);
                    await container.GetBlobClient(prefix + f.Name).DownloadToAsync(filter, new BlobDownloadToOptions
                    {
                        TransferOptions = Transfer,
                        ProgressHandler = aggregator.ForFile(),
                    }, ct).ConfigureAwait(false);
                    var actual = Convert.ToHexStringLower(sha.GetHashAndReset());
                    if (!string.Equals(actual, f.Sha256, StringComparison.OrdinalIgnoreCase))
                        lock (problems) problems.Add($"{prefix}{f.Name}: SHA-256 {actual}, manifest says {f.Sha256}");
                    aggregator.FileCompleted();
                }).ConfigureAwait(false);

            if (ModelLayout.FindMissing(manifest.Files.Select(f => f.Name).ToList()) is { } missingRequired
                && ModelLayout.FindMissing(manifest.Files.Select(f => f.Name).ToList(), true) is not null)
            {
                problems.Add($"the manifest lacks required file {prefix}{missingRequired}");
            }

            return new ModelVerificationResult(prefix, true, toHash.Count, aggregator.BytesTransferred, problems);
        }
        catch (RequestFailedException e)
        {
            throw StorageErrors.Map(e, container, null, []);
        }
        catch (Exception e) when (StorageErrors.MapOther(e, container) is { } mapped)
        {
            throw mapped;
        }
    }

    /// <summary>
    /// The model versions in a container: every folder holding a <c>config.json</c> or manifest (an <c>onnx/</c>
    /// subfolder counts with its parent), with file count, bytes and whether a manifest is present. Blobs outside
    /// any version are grouped by their top-level folder.
    /// </summary>
    public static async Task<IReadOnlyList<ModelVersionInfo>> ListAsync(BlobContainerClient container, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(container);
        var blobs = new List<BlobItem>();
        try
        {
            await foreach (var item in container.GetBlobsAsync(new GetBlobsOptions(), cancellationToken).ConfigureAwait(false)) blobs.Add(item);
        }
        catch (RequestFailedException e)
        {
            throw StorageErrors.Map(e, container, null, []);
        }
        catch (Exception e) when (StorageErrors.MapOther(e, container) is { } mapped)
        {
            throw mapped;
        }

        var roots = new HashSet<string>(StringComparer.Ordinal);
        foreach (var b in blobs)
        {
            var name = b.Name;
            var slash = name.LastIndexOf('/');
            var dir = slash < 0 ? "" : name[..(slash + 1)];
            var file = name[(slash + 1)..];
            if (file is not ("config.json" or ModelLayout.ManifestName)) continue;
            if (dir.EndsWith("onnx/", StringComparison.Ordinal) && dir.Length > 5 && roots.Contains(dir[..^5])) continue;
            roots.Add(dir.EndsWith("/onnx/", StringComparison.Ordinal) || dir == "onnx/" ? dir[..^5] : dir);
        }

        var groups = new Dictionary<string, List<BlobItem>>(StringComparer.Ordinal);
        foreach (var b in blobs)
        {
            var root = roots.Where(r => b.Name.StartsWith(r, StringComparison.Ordinal)).MaxBy(r => r.Length)
                ?? (b.Name.Contains('/') ? b.Name[..(b.Name.IndexOf('/') + 1)] : "");
            if (!groups.TryGetValue(root, out var list)) groups[root] = list = [];
            list.Add(b);
        }
        return groups
            .Select(g => new ModelVersionInfo(g.Key, g.Value.Count, g.Value.Sum(b => b.Properties.ContentLength ?? 0),
                g.Value.Any(b => b.Name == g.Key + ModelLayout.ManifestName), g.Value.Max(b => b.Properties.LastModified)))
            .OrderBy(v => v.Prefix, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>A write-only stream that only feeds a hash: verification never keeps the content.</summary>
    private sealed class HashSinkStream(IncrementalHash hash) : Stream
    {
        private long _length;
        public override void Write(ReadOnlySpan<byte> buffer) { hash.AppendData(buffer); _length += buffer.Length; }
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Write(buffer.AsSpan(offset, count));
            return Task.CompletedTask;
        }
        public override void Flush() { }
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _length;
        public override long Position { get => _length; set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
