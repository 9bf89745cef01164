using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Serverless.Jobs.Storage;

namespace Serverless.Jobs.Cancellation;

/// <summary>
/// One per instance: watches the status records of the jobs this instance is running and cancels a job's token when its
/// record says <c>cancelled</c>. One loop ticks every <see cref="PromptJobsOptions.CancelPollInterval"/> (500 ms) and
/// checks the jobs checked longest ago, <see cref="MaxChecksPerSecond"/> × the interval of them (at least one): a HEAD
/// of the record, and a read only when the ETag moved away from what the watcher read and the worker wrote last. At 500 ms up to 4 running jobs are each checked every tick; with
/// shared decode batches an instance runs 16–32, and one HEAD per job per tick would be 32–64 requests a second per
/// instance against the storage account (whose request rate every instance shares), so 16 jobs are each checked every
/// 2 s instead. The engine checks its token between decode steps, without a storage call per token.
/// </summary>
internal sealed class JobCancellationWatcher : IAsyncDisposable, IDisposable
{
    /// <summary>Record checks a second per instance, whatever the number of jobs it runs (one per tick at the least).</summary>
    public const int MaxChecksPerSecond = 8;

    private readonly JobStore _store;
    private readonly TimeSpan _interval;
    private readonly int _checksPerTick;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Watched> _jobs = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _gate = new();
    private Task? _loop;
    private bool _disposed;

    public JobCancellationWatcher(JobStore store, TimeSpan interval, ILogger<JobCancellationWatcher> logger)
    {
        _store = store;
        _interval = interval;
        _checksPerTick = Math.Max(1, (int)(MaxChecksPerSecond * interval.TotalSeconds));
        _logger = logger;
    }

    /// <summary>Watches job <paramref name="id"/> until the returned handle is disposed; its token is cancelled when the
    /// job's record becomes <c>cancelled</c> (or when <paramref name="hostToken"/> is).</summary>
    public WatchHandle Watch(string id, CancellationToken hostToken) => Watch(new TrackedRecord(id), hostToken);

    /// <summary><see cref="Watch(string, CancellationToken)"/> for a job whose writes go through <paramref name="tracked"/>:
    /// a record whose ETag is the one the worker wrote last is not read.</summary>
    public WatchHandle Watch(TrackedRecord tracked, CancellationToken hostToken)
    {
        var id = tracked.Id;
        var watched = new Watched(CancellationTokenSource.CreateLinkedTokenSource(hostToken), tracked);
        _jobs[id] = watched;
        lock (_gate) _loop ??= Task.Run(() => RunAsync(_stopping.Token));
        return new WatchHandle(this, id, watched);
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(_interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false))
            {
                var due = _jobs.Where(j => !j.Value.Source.IsCancellationRequested)
                    .OrderBy(j => j.Value.LastChecked).Take(_checksPerTick).ToList();
                foreach (var (id, watched) in due)
                {
                    watched.LastChecked = Stopwatch.GetTimestamp();
                    try
                    {
                        var etag = await _store.GetRecordETagAsync(id, stopping).ConfigureAwait(false);
                        if (etag is null || etag == watched.LastETag || etag == watched.Tracked.ETag) continue;
                        var current = await _store.GetAsync(id, stopping).ConfigureAwait(false);
                        if (current is not { } c) continue;
                        watched.LastETag = c.ETag;
                        if (c.Record.Status == JobStatus.Cancelled)
                        {
                            _logger.LogInformation("Job {JobId} was cancelled; stopping its generation", id);
                            watched.CancelledByRequest = true;
                            await watched.Source.CancelAsync().ConfigureAwait(false);
                        }
                    }
                    catch (Exception e) when (e is not OperationCanceledException || !stopping.IsCancellationRequested)
                    {
                        // A missed poll only delays a cancellation; the next tick tries again.
                        _logger.LogWarning(e, "Could not check job {JobId} for cancellation", id);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested) { }
    }

    private void Unwatch(string id, Watched watched)
    {
        _jobs.TryRemove(new KeyValuePair<string, Watched>(id, watched));
        watched.Source.Dispose();
    }

    /// <summary>For containers disposed synchronously: stops the loop without waiting for it (it ends at its next await).</summary>
    public void Dispose()
    {
        if (!_disposed) _stopping.Cancel();
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is { } loop) await loop.ConfigureAwait(false);
        _stopping.Dispose();
    }

    internal sealed class Watched(CancellationTokenSource source, TrackedRecord tracked)
    {
        public CancellationTokenSource Source { get; } = source;
        /// <summary>The worker's own view of the record: its writes are not news to the watcher.</summary>
        public TrackedRecord Tracked { get; } = tracked;
        public Azure.ETag? LastETag { get; set; }
        /// <summary><see cref="Stopwatch"/> timestamp of the last check; 0 (never) puts a new job first.</summary>
        public long LastChecked { get; set; }
        public volatile bool CancelledByRequest;
    }

    /// <summary>A watched job: <see cref="Token"/> to run it with, <see cref="IsCancelled"/> once its record said so.</summary>
    public sealed class WatchHandle : IDisposable
    {
        private readonly JobCancellationWatcher _owner;
        private readonly string _id;
        private readonly Watched _watched;

        internal WatchHandle(JobCancellationWatcher owner, string id, Watched watched)
        {
            _owner = owner;
            _id = id;
            _watched = watched;
            Token = watched.Source.Token;
        }

        public CancellationToken Token { get; }
        public bool IsCancelled => _watched.CancelledByRequest;
        public void Dispose() => _owner.Unwatch(_id, _watched);
    }
}
