namespace Serverless.ModelStore;

/// <summary>What the last load of a model cost: useful for logs, metrics and the benchmark.</summary>
/// <param name="Version">Fingerprint of the loaded version.</param>
/// <param name="CacheDirectory">The folder the model was loaded from.</param>
/// <param name="FilesDownloaded">Files fetched from storage.</param>
/// <param name="FilesReused">Files taken from the cache after checking them.</param>
/// <param name="BytesDownloaded">Blob content bytes fetched.</param>
/// <param name="SyncDuration">Checking the cache and downloading (the downloads hashed on their way to disk).</param>
/// <param name="LoadDuration">The loader, with the re-hashing of cached files running beside it.</param>
public sealed record ModelLoadInfo(
    string Version, string CacheDirectory, int FilesDownloaded, int FilesReused, long BytesDownloaded, TimeSpan SyncDuration, TimeSpan LoadDuration)
{
    /// <summary>When the load began (the listing of the prefix): with the durations, where a cold start's time went.</summary>
    public DateTimeOffset StartedAt { get; init; }

    /// <summary>Listing the prefix and reading the manifest, before <see cref="SyncDuration"/>.</summary>
    public TimeSpan ListDuration { get; init; }

    /// <summary>SHA-256 of the downloads while they were written, within <see cref="SyncDuration"/> (summed over files
    /// downloading in parallel, so it may exceed the wall time it took).</summary>
    public TimeSpan HashDuration { get; init; }

    /// <summary>Re-hashing cached files (<see cref="ModelStoreOptions.VerifyCachedFiles"/>) beside the load, within
    /// <see cref="LoadDuration"/>'s wall time; zero when nothing was reused.</summary>
    public TimeSpan VerifyDuration { get; init; }

    /// <summary>When the model was ready to hand out: <see cref="StartedAt"/> plus listing, sync and load.</summary>
    public DateTimeOffset ReadyAt => StartedAt + ListDuration + SyncDuration + LoadDuration;
}
