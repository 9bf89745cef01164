namespace Serverless.ModelStore;

/// <summary>Progress of a model download or upload: bytes moved so far out of the bytes that need moving.</summary>
/// <param name="BytesTransferred">Bytes moved so far, across all files.</param>
/// <param name="TotalBytes">Bytes that need moving (files already cached do not count).</param>
/// <param name="FilesCompleted">Files finished so far.</param>
/// <param name="TotalFiles">Files that need moving.</param>
public readonly record struct ModelTransferProgress(long BytesTransferred, long TotalBytes, int FilesCompleted, int TotalFiles);

/// <summary>Sums per-file byte counts reported by the SDK (possibly from several threads) into one progress stream.</summary>
internal sealed class TransferProgressAggregator(IProgress<ModelTransferProgress>? sink, long totalBytes, int totalFiles)
{
    private long _bytes;
    private int _files;

    public long BytesTransferred => Interlocked.Read(ref _bytes);

    /// <summary>A per-file progress handler; the SDK reports cumulative bytes for that file.</summary>
    public IProgress<long> ForFile()
    {
        long last = 0;
        return new SyncProgress<long>(current =>
        {
            var delta = current - Interlocked.Exchange(ref last, current);
            var total = Interlocked.Add(ref _bytes, delta);
            sink?.Report(new ModelTransferProgress(total, totalBytes, Volatile.Read(ref _files), totalFiles));
        });
    }

    public void FileCompleted() =>
        sink?.Report(new ModelTransferProgress(BytesTransferred, totalBytes, Interlocked.Increment(ref _files), totalFiles));

    public void Start() => sink?.Report(new ModelTransferProgress(0, totalBytes, 0, totalFiles));
}

/// <summary>An IProgress that calls back on the reporting thread (Progress&lt;T&gt; would post to a captured context).</summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
