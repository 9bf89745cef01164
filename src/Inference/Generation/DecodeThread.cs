namespace Serverless.Inference.Generation;

/// <summary>
/// Where a decode loop runs: a thread of its own, not the thread pool's. A loop holds its thread for the whole
/// generation (seconds); on a 2-core instance the pool starts with 2 threads, so two loops on pool threads leave
/// timers, HTTP requests and storage callbacks of the same process waiting for the pool to grow (about a second per
/// thread). Seen: a cancellation timer and a progress timer that fired only after a 1.3 s generation had ended.
/// </summary>
internal static class DecodeThread
{
    /// <summary>Runs <paramref name="loop"/> on a thread of its own.</summary>
    public static Task<T> Run<T>(Func<T> loop, CancellationToken cancellationToken) =>
        Task.Factory.StartNew(loop, cancellationToken, TaskCreationOptions.LongRunning | TaskCreationOptions.DenyChildAttach, TaskScheduler.Default);
}
