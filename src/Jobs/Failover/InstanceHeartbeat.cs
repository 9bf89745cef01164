using Azure;
using Microsoft.Extensions.Logging;
using Serverless.Jobs.Storage;

namespace Serverless.Jobs.Failover;

/// <summary>
/// This instance's sign of life and the list of jobs it holds: <c>jobs/_instances/{id}</c>, rewritten every
/// <see cref="FailoverOptions.HeartbeatInterval"/> by a loop of its own (never by the decode thread, so a long decode step
/// does not make a live instance look dead), and at once when the worker takes a job (<see cref="PublishAsync"/>; writes
/// asked for while one is in flight share the next one).
/// </summary>
internal sealed class InstanceHeartbeat
{
    private readonly HeartbeatStore _store;
    private readonly JobStore _jobs;
    private readonly FailoverOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Dictionary<string, int> _held = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _chunks = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _writing = new(1, 1);
    private long _changes;
    private long _written = -1;
    private ETag? _etag;

    public InstanceHeartbeat(HeartbeatStore store, JobStore jobs, FailoverOptions options, TimeProvider time, ILogger<InstanceHeartbeat> logger)
    {
        _store = store;
        _jobs = jobs;
        _options = options;
        _time = time;
        _logger = logger;
    }

    public string InstanceId => _options.InstanceId;

    /// <summary>Heartbeats written since start (for the cost figures of docs/reliability.md).</summary>
    public long Writes { get; private set; }

    /// <summary>Whether a message of this job is being processed here right now.</summary>
    public bool Holds(string jobId)
    {
        lock (_held) return _held.ContainsKey(jobId);
    }

    /// <summary>Whether two deliveries of this job are being processed here at once (the caller's and another).</summary>
    public bool HoldsMoreThanOnce(string jobId)
    {
        lock (_held) return _held.GetValueOrDefault(jobId) > 1;
    }

    /// <summary>Lists the job in the heartbeat until disposed; call <see cref="PublishAsync"/> before taking the job, so that
    /// a sweep that finds this instance dead knows the job was here.</summary>
    public IDisposable Hold(string jobId)
    {
        lock (_held)
        {
            _held[jobId] = _held.GetValueOrDefault(jobId) + 1;
            _changes++;
        }
        return new Release(this, _held, jobId);
    }

    /// <summary>Lists a batch chunk message (its text) in the heartbeat until disposed; call <see cref="PublishAsync"/> before
    /// running it, so that a sweep that finds this instance dead sends it again.</summary>
    public IDisposable HoldChunk(string message)
    {
        lock (_held)
        {
            _chunks[message] = _chunks.GetValueOrDefault(message) + 1;
            _changes++;
        }
        return new Release(this, _chunks, message);
    }

    /// <summary>Returns once a heartbeat listing every job held now is stored.</summary>
    public async Task PublishAsync(CancellationToken cancellationToken)
    {
        long wanted;
        lock (_held) wanted = _changes;
        await _writing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Interlocked.Read(ref _written) >= wanted) return; // a write that started after our change covered it
            await WriteAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writing.Release();
        }
    }

    /// <summary>Renews the heartbeat every interval until <paramref name="stoppingToken"/>; then deletes it when nothing is
    /// held (a clean exit needs no sweep). Storage failures are logged and retried at the next beat.</summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _writing.WaitAsync(stoppingToken).ConfigureAwait(false);
                try
                {
                    await WriteAsync(stoppingToken).ConfigureAwait(false);
                }
                finally
                {
                    _writing.Release();
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (StorageFailure.Is(e))
            {
                _logger.LogWarning(e, "Instance {InstanceId}: could not renew its heartbeat; trying again in {Interval}", InstanceId, _options.HeartbeatInterval);
            }
            try
            {
                await Task.Delay(_options.HeartbeatInterval, _time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>Removes the heartbeat on a clean stop when no job is held any more (else the sweep hands them back).</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        lock (_held)
        {
            if (_held.Count > 0 || _chunks.Count > 0) return;
        }
        if (_etag is { } etag) await _store.DeleteAsync(InstanceId, etag, cancellationToken).ConfigureAwait(false);
    }

    private async Task WriteAsync(CancellationToken cancellationToken)
    {
        await _jobs.EnsureCreatedAsync(cancellationToken).ConfigureAwait(false);
        long version;
        string[] jobs, chunks;
        lock (_held)
        {
            version = _changes;
            jobs = [.. _held.Keys];
            chunks = [.. _chunks.Keys];
        }
        var beat = new Heartbeat(InstanceId, _time.GetUtcNow(), jobs, chunks.Length > 0 ? chunks : null);
        var etag = await _store.WriteAsync(InstanceId, beat, _etag, cancellationToken).ConfigureAwait(false);
        if (etag is null)
        {
            // A sweep found this instance dead (a stall longer than DeadAfter) and handed its jobs back; it is alive
            // after all. Its running attempts may finish: each job is still answered once (output If-None-Match, the
            // final record write under an ETag). Start a new heartbeat.
            _logger.LogWarning("Instance {InstanceId}: its heartbeat was removed by a sweep (this instance was taken for dead); writing a new one", InstanceId);
            etag = await _store.WriteAsync(InstanceId, beat, null, cancellationToken).ConfigureAwait(false)
                ?? await _store.WriteAsync(InstanceId, beat, (await _store.ListAsync(cancellationToken).ConfigureAwait(false))
                    .FirstOrDefault(h => h.Instance == InstanceId)?.ETag, cancellationToken).ConfigureAwait(false);
        }
        _etag = etag;
        Writes++;
        Interlocked.Exchange(ref _written, version);
    }

    private sealed class Release(InstanceHeartbeat owner, Dictionary<string, int> held, string key) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 1) return;
            lock (owner._held)
            {
                if (held[key] <= 1) held.Remove(key);
                else held[key]--;
                owner._changes++;
            }
        }
    }
}
