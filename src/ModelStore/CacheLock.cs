namespace Serverless.ModelStore;

/// <summary>
/// An exclusive lock on a cache folder shared by several processes: a <c>.lock</c> file opened with
/// <see cref="FileShare.None"/> (flock on Unix, a share-mode lock on Windows). The OS drops it when the process dies,
/// so a killed download never leaves the folder locked.
/// </summary>
internal static class CacheLock
{
    public const string FileName = ".lock";

    public static async Task<IDisposable> AcquireAsync(string directory, TimeSpan timeout, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, FileName);
        var started = DateTime.UtcNow;
        var delay = TimeSpan.FromMilliseconds(25);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
            }
            catch (IOException) when (DateTime.UtcNow - started < timeout)
            {
                // Held by another process (or another provider in this one): back off, up to 2 s between tries.
            }
            catch (IOException)
            {
                throw new ModelCacheLockTimeoutException(path, timeout);
            }
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 2000));
        }
    }
}
