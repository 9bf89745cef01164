namespace Serverless.ModelStore;

/// <summary>What the last load of a model cost: useful for logs, metrics and the benchmark.</summary>
/// <param name="Version">Fingerprint of the loaded version.</param>
/// <param name="CacheDirectory">The folder the model was loaded from.</param>
/// <param name="FilesDownloaded">Files fetched from storage.</param>
/// <param name="FilesReused">Files taken from the cache after checking them.</param>
/// <param name="BytesDownloaded">Blob content bytes fetched.</param>
/// <param name="SyncDuration">Listing, checking the cache and downloading.</param>
/// <param name="LoadDuration">The loader, with the re-hashing of cached files running beside it.</param>
public sealed record ModelLoadInfo(
    string Version, string CacheDirectory, int FilesDownloaded, int FilesReused, long BytesDownloaded, TimeSpan SyncDuration, TimeSpan LoadDuration);
