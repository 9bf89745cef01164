using Microsoft.Extensions.Logging;
using Serverless.Jobs.Batching;

namespace Serverless.Jobs.Failover;

/// <summary>
/// Graceful scale-in (issue 25): how a queue invocation ends when its host stops. A job whose decode has started may go
/// on for <see cref="FailoverOptions.DrainBudget"/> (one deadline for the whole instance, counted from the first stop
/// signal) and is answered here if it finishes in time; a job none of whose prompts reached a decode batch is stopped at
/// once, so the worker hands it back (record queued again, a new message visible after <see cref="HandBackDelay"/>) for
/// another instance to take; when the budget runs out the jobs still running are stopped and handed back the same way.
/// The stop signal is whichever comes first: the invocation's own token (the host cancelling its functions) or the
/// application stopping (SIGTERM, scale-in), since hosts differ in which they give and when.
/// </summary>
public sealed class ShutdownDrain
{
    /// <summary>How long a message handed back on shutdown stays invisible. The hand-back starts at the first stop
    /// signal, while this instance's own queue listener may still be polling (it stops a moment later, when the host
    /// stops its triggers): a message visible at once could be received by that listener and then never dispatched,
    /// which leaves it invisible for the extension's 10-minute receive lease. Other instances see it after this.</summary>
    internal static readonly TimeSpan HandBackDelay = TimeSpan.FromSeconds(2);

    private readonly FailoverOptions _options;
    private readonly CancellationToken _stopping;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private long? _stopAt;
    private int _running;

    /// <param name="stopping">The application's stopping token (<c>IHostApplicationLifetime.ApplicationStopping</c>).</param>
    internal ShutdownDrain(FailoverOptions options, CancellationToken stopping, TimeProvider time, ILogger<ShutdownDrain> logger)
    {
        _options = options;
        _stopping = stopping;
        _time = time;
        _logger = logger;
    }

    /// <summary>Runs one queue invocation: <paramref name="invocation"/> gets a token that is cancelled as described above
    /// once <paramref name="hostToken"/> is cancelled or the application stops.</summary>
    public async Task RunAsync(Func<CancellationToken, Task> invocation, CancellationToken hostToken)
    {
        ArgumentNullException.ThrowIfNull(invocation);
        if (!_options.Enabled)
        {
            await invocation(hostToken).ConfigureAwait(false);
            return;
        }
        using var drained = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _time);
        var watch = new DecodeWatch();
        using var onCancel = hostToken.Register(() => Stop(watch, drained));
        using var onStopping = _stopping.Register(() => Stop(watch, drained));
        // Flows into the scheduler with the job's prompts (an async method's changes stay inside it).
        DecodeWatch.Current = watch;
        Interlocked.Increment(ref _running);
        try
        {
            await invocation(drained.Token).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _running);
        }
    }

    /// <summary>Returns once no invocation runs under this drain (or when <paramref name="cancellationToken"/> is
    /// cancelled): a host that does not wait for its functions on stop waits here, so that draining decodes and their
    /// hand-backs are not cut off by the process ending.</summary>
    public async Task WhenIdleAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (Volatile.Read(ref _running) > 0) await Task.Delay(TimeSpan.FromMilliseconds(50), _time, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private void Stop(DecodeWatch watch, CancellationTokenSource drained)
    {
        var left = Left();
        try
        {
            if (!watch.HasStarted || left <= TimeSpan.Zero) drained.Cancel();
            else drained.CancelAfter(left);
        }
        catch (ObjectDisposedException)
        {
            // The invocation ended meanwhile.
        }
    }

    /// <summary>The budget left; the first call starts it.</summary>
    private TimeSpan Left()
    {
        long stopAt;
        lock (_gate)
        {
            if (_stopAt is null)
            {
                _stopAt = _time.GetTimestamp();
                _logger.LogWarning("Instance {InstanceId} is stopping: decodes already running may finish within {Budget}; jobs not started are handed back now",
                    _options.InstanceId, _options.DrainBudget);
            }
            stopAt = _stopAt.Value;
        }
        return _options.DrainBudget - _time.GetElapsedTime(stopAt);
    }
}
