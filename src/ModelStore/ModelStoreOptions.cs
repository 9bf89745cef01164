namespace Serverless.ModelStore;

/// <summary>Where the model lives in Blob Storage and how it is cached locally.</summary>
public sealed record ModelStoreOptions
{
    public const string DefaultContainer = "models";
    public const string DefaultPrefix = "flan-t5-small/";

    /// <summary>The blob container holding model versions.</summary>
    public string Container { get; init; } = DefaultContainer;

    /// <summary>The folder-like prefix of one model version (a version is just another prefix). A trailing '/' is added if missing.</summary>
    public string Prefix { get; init; } = DefaultPrefix;

    /// <summary>
    /// Local cache folder; null or empty means <c>&lt;temp&gt;/serverless-models/&lt;account&gt;-&lt;endpoint hash&gt;/&lt;container&gt;/&lt;prefix&gt;</c>.
    /// Several processes may share it: a lock file serialises downloads.
    /// </summary>
    public string? CacheDirectory { get; init; }

    /// <summary>Require (and download) the <c>*_quantized.onnx</c> variants instead of the fp32 files.</summary>
    public bool UseQuantized { get; init; }

    /// <summary>
    /// How often an acquire may check storage for a changed model (in the background; the current model keeps
    /// serving). Null turns the check off; <see cref="ModelProvider{TModel}.RefreshAsync"/> still works.
    /// </summary>
    public TimeSpan? RefreshInterval { get; init; }

    /// <summary>
    /// Re-hash every cached file against the local record before trusting it (each load: the first of a process, or a
    /// refresh). Catches corruption that keeps the size and the write time; costs one read of the files (~0.2-1 s for
    /// flan-t5-small on 2 cores). When false, a file is re-hashed only if its size or last-write time changed.
    /// </summary>
    public bool VerifyCachedFiles { get; init; } = true;

    /// <summary>
    /// Fetch only these files (names as at the top of the model folder; found there or under <c>onnx/</c>), e.g.
    /// <c>config.json</c> and <c>spiece.model</c> for a tokenizer; null fetches the whole model. Give such a subset its
    /// own <see cref="CacheDirectory"/>: a cache folder holds exactly one file set. A file the model can run without
    /// (<see cref="ModelLayout.IsOptional"/>, e.g. <c>generation_config.json</c>) may be absent.
    /// </summary>
    public IReadOnlyCollection<string>? OnlyFiles { get; init; }

    /// <summary>How many files download at once.</summary>
    public int MaxParallelFiles { get; init; } = 3;

    /// <summary>How many ranges of one blob download at once.</summary>
    public int MaxConcurrencyPerFile { get; init; } = 4;

    /// <summary>Size of each ranged GET (and of the first one).</summary>
    public long TransferSize { get; init; } = 8 * 1024 * 1024;

    /// <summary>How long to wait for another process that holds the cache folder's lock.</summary>
    public TimeSpan CacheLockTimeout { get; init; } = TimeSpan.FromMinutes(10);

    internal string NormalizedPrefix => NormalizePrefix(Prefix);

    internal static string NormalizePrefix(string? prefix)
    {
        var p = (prefix ?? "").Trim().TrimStart('/');
        return p.Length == 0 || p.EndsWith('/') ? p : p + "/";
    }

    internal void Validate()
    {
        ModelStoreNames.ThrowIfInvalidContainer(Container, nameof(Container));
        ModelStoreNames.ThrowIfInvalidPrefix(Prefix, nameof(Prefix));
        if (MaxParallelFiles < 1) throw new ArgumentOutOfRangeException(nameof(MaxParallelFiles), MaxParallelFiles, "Must be at least 1.");
        if (MaxConcurrencyPerFile < 1) throw new ArgumentOutOfRangeException(nameof(MaxConcurrencyPerFile), MaxConcurrencyPerFile, "Must be at least 1.");
        if (TransferSize < 64 * 1024) throw new ArgumentOutOfRangeException(nameof(TransferSize), TransferSize, "Must be at least 64 KiB.");
        if (RefreshInterval is { } r && r <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RefreshInterval), r, "Must be positive, or null for off.");
    }
}
