using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Azure;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace Serverless.ModelStore;

/// <summary>One model file as storage has it.</summary>
internal sealed record RemoteFile(string Name, long Size, string ETag, string? Sha256);

/// <summary>What a prefix holds right now: the files to fetch, the manifest if any, and a fingerprint of the version.</summary>
internal sealed record RemoteModel(
    IReadOnlyList<RemoteFile> Files, ModelManifest? Manifest, string? ManifestETag, IReadOnlyList<string> Found, string Fingerprint);

/// <summary>
/// The outcome of bringing the cache folder in line with storage. <see cref="Unverified"/>: cached files trusted on
/// their metadata whose hashes the caller still has to check (<see cref="ModelCacheSynchronizer.FindCorruptAsync"/>).
/// <see cref="HashTime"/>: SHA-256 time within <see cref="Elapsed"/>, summed over the files (they download in parallel).
/// </summary>
internal sealed record SyncResult(
    string Fingerprint, int FilesDownloaded, int FilesReused, long BytesDownloaded, TimeSpan Elapsed, IReadOnlyList<string> Unverified,
    TimeSpan HashTime = default);

/// <summary>
/// Brings a local cache folder in line with a model prefix in Blob Storage: lists the prefix, trusts cached files whose
/// recorded ETag/size (and hash) still match, downloads the rest to temporary names in parallel ranges, verifies them
/// (manifest SHA-256, or size + ETag without one) and only then renames them into place.
/// </summary>
internal sealed class ModelCacheSynchronizer
{
    private readonly BlobContainerClient _container;
    private readonly ModelStoreOptions _options;
    private readonly string _prefix;

    public ModelCacheSynchronizer(BlobContainerClient container, ModelStoreOptions options, string cacheDirectory)
    {
        _container = container;
        _options = options;
        _prefix = options.NormalizedPrefix;
        CacheDirectory = cacheDirectory;
    }

    public string CacheDirectory { get; }

    private string Location => $"container '{_container.Name}' (account '{_container.AccountName}'), prefix '{_prefix}'";

    /// <summary>Lists the prefix and reads the manifest (from the local record when its ETag is unchanged).</summary>
    public async Task<RemoteModel> GetRemoteAsync(CancellationToken cancellationToken)
    {
        var listed = new Dictionary<string, BlobItem>(StringComparer.Ordinal);
        try
        {
            await foreach (var item in _container.GetBlobsAsync(new GetBlobsOptions { Prefix = _prefix }, cancellationToken).ConfigureAwait(false))
                listed[item.Name[_prefix.Length..]] = item;
        }
        catch (RequestFailedException e)
        {
            throw StorageErrors.Map(e, _container, null, []);
        }
        var found = listed.Keys.Order(StringComparer.Ordinal).ToList();

        ModelManifest? manifest = null;
        string? manifestETag = null;
        if (listed.TryGetValue(ModelLayout.ManifestName, out var manifestItem))
        {
            manifestETag = manifestItem.Properties.ETag?.ToString();
            var record = CacheRecord.Load(CacheDirectory);
            manifest = record.ManifestETag == manifestETag && record.Manifest is not null
                ? record.Manifest
                : await DownloadManifestAsync(manifestItem, found, cancellationToken).ConfigureAwait(false);
        }

        List<RemoteFile> files = [];
        if (manifest is not null)
        {
            var entries = manifest.Files.ToDictionary(f => f.Name, StringComparer.Ordinal);
            foreach (var name in ModelLayout.SelectFiles(entries.Keys, _options.UseQuantized))
            {
                var entry = entries[name];
                if (!listed.TryGetValue(name, out var item))
                    throw new ModelFileMissingException(Location, _prefix + name, found);
                var size = item.Properties.ContentLength ?? -1;
                if (size != entry.Size)
                    throw new ModelChecksumMismatchException(_prefix + name, $"{entry.Size} bytes (manifest)", $"{size} bytes in storage");
                files.Add(new RemoteFile(name, size, item.Properties.ETag?.ToString() ?? "", entry.Sha256));
            }
        }
        else
        {
            foreach (var name in ModelLayout.SelectFiles(listed.Keys, _options.UseQuantized))
            {
                var item = listed[name];
                files.Add(new RemoteFile(name, item.Properties.ContentLength ?? -1, item.Properties.ETag?.ToString() ?? "", null));
            }
        }
        files.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));

        if (_options.OnlyFiles is { } only)
        {
            static string Bare(string name) => name.StartsWith("onnx/", StringComparison.Ordinal) ? name["onnx/".Length..] : name;
            files = files.Where(f => only.Contains(Bare(f.Name))).ToList();
            if (only.FirstOrDefault(name => !ModelLayout.IsOptional(name) && files.All(f => Bare(f.Name) != name)) is { } absent)
                throw new ModelFileMissingException(Location, _prefix + absent, found);
        }
        else if (ModelLayout.FindMissing(files.Select(f => f.Name).ToList(), _options.UseQuantized) is { } missing)
        {
            throw new ModelFileMissingException(Location, _prefix + missing, found);
        }

        return new RemoteModel(files, manifest, manifestETag, found, Fingerprint(files, manifestETag));
    }

    private async Task<ModelManifest> DownloadManifestAsync(BlobItem item, IReadOnlyList<string> found, CancellationToken cancellationToken)
    {
        var blob = _container.GetBlobClient(item.Name);
        BinaryData content;
        try
        {
            var response = await blob.DownloadContentAsync(
                new BlobDownloadOptions { Conditions = new BlobRequestConditions { IfMatch = item.Properties.ETag } }, cancellationToken).ConfigureAwait(false);
            content = response.Value.Content;
        }
        catch (RequestFailedException e)
        {
            throw StorageErrors.Map(e, _container, item.Name, found);
        }
        try
        {
            return ModelManifest.Parse(content.ToMemory().Span);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or FormatException)
        {
            throw new ModelManifestInvalidException(item.Name, e);
        }
    }

    /// <summary>
    /// Makes the cache folder hold exactly <paramref name="remote"/>'s files, verified. The caller holds the cache lock.
    /// With <paramref name="deferHashing"/>, cached files whose record, size and write time match are returned as
    /// <see cref="SyncResult.Unverified"/> instead of being hashed here, so the caller can hash them while loading.
    /// </summary>
    public async Task<SyncResult> SyncAsync(
        RemoteModel remote, IProgress<ModelTransferProgress>? progress, bool deferHashing, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        Directory.CreateDirectory(CacheDirectory);
        DeleteLeftovers();

        var record = CacheRecord.Load(CacheDirectory);
        // Files of an earlier version that this one does not have: stop trusting them and remove them, so the loader
        // cannot pick up e.g. an old merged decoder next to new separate ones.
        foreach (var stale in record.Files.Keys.Where(k => remote.Files.All(f => f.Name != k)).ToList())
        {
            record.Files.Remove(stale);
            TryDelete(LocalPath(stale));
        }
        if (record.ManifestETag != remote.ManifestETag)
        {
            record.ManifestETag = remote.ManifestETag;
            record.Manifest = remote.Manifest;
        }
        record.Save(CacheDirectory);

        var state = new CacheState[remote.Files.Count];
        await Parallel.ForAsync(0, remote.Files.Count,
            new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = cancellationToken },
            async (i, ct) => state[i] = await CheckCachedAsync(record, remote.Files[i], deferHashing, ct).ConfigureAwait(false)).ConfigureAwait(false);

        var toDownload = remote.Files.Where((_, i) => state[i] == CacheState.Missing).ToList();
        var unverified = remote.Files.Where((_, i) => state[i] == CacheState.Unverified).Select(f => f.Name).ToList();
        foreach (var file in toDownload)
            if (record.Files.Remove(file.Name)) TryDelete(LocalPath(file.Name));
        if (toDownload.Count > 0) record.Save(CacheDirectory);

        var aggregator = new TransferProgressAggregator(progress, toDownload.Sum(f => f.Size), toDownload.Count);
        aggregator.Start();
        var recordGate = new object();
        long hashTicks = 0;
        // Largest first so the long transfers start at once and small files fill the gaps.
        await Parallel.ForEachAsync(toDownload.OrderByDescending(f => f.Size),
            new ParallelOptions { MaxDegreeOfParallelism = _options.MaxParallelFiles, CancellationToken = cancellationToken },
            async (file, ct) =>
            {
                var (sha, hashTime) = await DownloadFileAsync(file, remote.Found, aggregator.ForFile(), ct).ConfigureAwait(false);
                Interlocked.Add(ref hashTicks, hashTime.Ticks);
                aggregator.FileCompleted();
                lock (recordGate)
                {
                    var modified = File.GetLastWriteTimeUtc(LocalPath(file.Name)).Ticks;
                    record.Files[file.Name] = new CachedFile(file.ETag, file.Size, sha, modified);
                    record.Save(CacheDirectory);
                }
            }).ConfigureAwait(false);

        return new SyncResult(remote.Fingerprint, toDownload.Count, remote.Files.Count - toDownload.Count,
            aggregator.BytesTransferred, stopwatch.Elapsed, unverified, TimeSpan.FromTicks(hashTicks));
    }

    private enum CacheState { Missing, Verified, Unverified }

    private async Task<CacheState> CheckCachedAsync(CacheRecord record, RemoteFile file, bool deferHashing, CancellationToken cancellationToken)
    {
        if (!record.Files.TryGetValue(file.Name, out var cached)) return CacheState.Missing;
        if (cached.ETag != file.ETag || cached.Size != file.Size) return CacheState.Missing;
        if (file.Sha256 is not null && !string.Equals(cached.Sha256, file.Sha256, StringComparison.OrdinalIgnoreCase)) return CacheState.Missing;
        var info = new FileInfo(LocalPath(file.Name));
        if (!info.Exists || info.Length != file.Size) return CacheState.Missing;
        if (info.LastWriteTimeUtc.Ticks == cached.ModifiedUtcTicks)
        {
            // Untouched since it was verified: full verification may run alongside the load, or not at all.
            if (!_options.VerifyCachedFiles) return CacheState.Verified;
            if (deferHashing) return CacheState.Unverified;
        }
        // Something rewrote it (or it must be checked now): hash it before trusting it.
        return string.Equals(await HashFileAsync(info.FullName, cancellationToken).ConfigureAwait(false), cached.Sha256, StringComparison.OrdinalIgnoreCase)
            ? CacheState.Verified : CacheState.Missing;
    }

    /// <summary>
    /// Hashes <paramref name="names"/> against the record, one file at a time (it runs beside the loader, which needs
    /// the other core), and stops trusting and deletes those that do not match. Returns the ones removed.
    /// </summary>
    public async Task<IReadOnlyList<string>> FindCorruptAsync(IReadOnlyList<string> names, CancellationToken cancellationToken)
    {
        if (names.Count == 0) return [];
        var record = CacheRecord.Load(CacheDirectory);
        var corrupt = new List<string>();
        foreach (var name in names)
        {
            var ok = record.Files.TryGetValue(name, out var cached) && string.Equals(
                await HashFileAsync(LocalPath(name), cancellationToken).ConfigureAwait(false), cached.Sha256, StringComparison.OrdinalIgnoreCase);
            if (!ok) corrupt.Add(name);
        }
        if (corrupt.Count > 0)
        {
            foreach (var name in corrupt)
            {
                record.Files.Remove(name);
                TryDelete(LocalPath(name));
            }
            record.Save(CacheDirectory);
        }
        return corrupt;
    }

    private async Task<(string Sha256, TimeSpan HashTime)> DownloadFileAsync(RemoteFile file, IReadOnlyList<string> found, IProgress<long> progress, CancellationToken cancellationToken)
    {
        var finalPath = LocalPath(file.Name);
        Directory.CreateDirectory(Path.GetDirectoryName(finalPath)!);
        var tempPath = $"{finalPath}.{Guid.NewGuid():N}{PartialSuffix}";
        var blobPath = _prefix + file.Name;
        try
        {
            string sha;
            long written;
            TimeSpan hashTime;
            var fileOptions = new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                BufferSize = 0,
                Options = FileOptions.Asynchronous,
                PreallocationSize = Math.Max(0, file.Size),
            };
            await using (var fileStream = new FileStream(tempPath, fileOptions))
            {
                var hashing = new HashingWriteStream(fileStream);
                await using (hashing.ConfigureAwait(false))
                {
                    try
                    {
                        await _container.GetBlobClient(blobPath).DownloadToAsync(hashing, new BlobDownloadToOptions
                        {
                            // The ETag from the listing: a blob replaced mid-download fails (412) instead of mixing versions.
                            Conditions = new BlobRequestConditions { IfMatch = new ETag(file.ETag) },
                            TransferOptions = new StorageTransferOptions
                            {
                                MaximumConcurrency = _options.MaxConcurrencyPerFile,
                                InitialTransferSize = _options.TransferSize,
                                MaximumTransferSize = _options.TransferSize,
                            },
                            ProgressHandler = progress,
                        }, cancellationToken).ConfigureAwait(false);
                    }
                    catch (RequestFailedException e)
                    {
                        throw StorageErrors.Map(e, _container, blobPath, found);
                    }
                    await hashing.FlushAsync(cancellationToken).ConfigureAwait(false);
                    written = hashing.BytesWritten;
                    sha = hashing.IsSequential ? hashing.GetHashHex() : "";
                    hashTime = hashing.HashTime;
                }
            }
            if (sha.Length == 0)
            {
                var second = Stopwatch.StartNew();
                sha = await HashFileAsync(tempPath, cancellationToken).ConfigureAwait(false);
                hashTime += second.Elapsed;
            }

            if (written != file.Size)
                throw new ModelChecksumMismatchException(blobPath, $"{file.Size} bytes", $"{written} bytes");
            if (file.Sha256 is not null && !string.Equals(sha, file.Sha256, StringComparison.OrdinalIgnoreCase))
                throw new ModelChecksumMismatchException(blobPath, $"SHA-256 {file.Sha256}", $"SHA-256 {sha}");

            File.Move(tempPath, finalPath, overwrite: true);
            return (sha, hashTime);
        }
        finally
        {
            // A failed, cancelled or rejected download never leaves a file that could be mistaken for a good one.
            TryDelete(tempPath);
        }
    }

    internal const string PartialSuffix = ".partial";

    private void DeleteLeftovers()
    {
        // Temp files of a process killed mid-download (we hold the lock, so nobody is writing them now).
        foreach (var path in Directory.EnumerateFiles(CacheDirectory, "*" + PartialSuffix, SearchOption.AllDirectories))
            TryDelete(path);
    }

    private string LocalPath(string relativeName) => Path.Combine(CacheDirectory, relativeName.Replace('/', Path.DirectorySeparatorChar));

    internal static async Task<string> HashFileAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false));
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    private static string Fingerprint(IEnumerable<RemoteFile> files, string? manifestETag)
    {
        var text = new StringBuilder(manifestETag ?? "-").Append('\n');
        foreach (var f in files.OrderBy(f => f.Name, StringComparer.Ordinal))
            text.Append(f.Name).Append('\0').Append(f.ETag).Append('\0').Append(f.Size).Append('\n');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..16];
    }
}
