using Microsoft.Extensions.Logging;
using Serverless.Jobs.Storage;

namespace Serverless.Jobs.Checkpoints;

/// <summary>
/// Collects finished items of one attempt (any thread) and saves the whole set every <c>interval</c> when something new
/// finished: a 64-prompt job that runs 2 minutes costs at most 2 min / interval writes, not 64. Disposing saves what is
/// unsaved (a failed or stopped attempt keeps its finished items) unless <see cref="Completed"/> was called.
/// Writes are best effort: a failed one is logged and the items are saved with the next.
/// </summary>
internal sealed class CheckpointWriter<T> : IAsyncDisposable
{
    private readonly CheckpointStore _store;
    private readonly string _key;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Dictionary<int, T> _items;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly SemaphoreSlim _saving = new(1, 1);
    private int _version;
    private int _saved;
    private bool _completed;
    private bool _disposed;

    public CheckpointWriter(CheckpointStore store, string key, IReadOnlyDictionary<int, T> earlier, TimeSpan interval, TimeProvider time, ILogger logger)
    {
        _store = store;
        _key = key;
        _interval = interval;
        _time = time;
        _logger = logger;
        _items = new Dictionary<int, T>(earlier);
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>Checkpoint writes made (for the cost figures).</summary>
    public int Writes { get; private set; }

    public void Add(int index, T item)
    {
        lock (_items)
        {
            _items[index] = item;
            _version++;
        }
    }

    /// <summary>The work's result is stored: nothing more to save.</summary>
    public void Completed() => _completed = true;

    /// <summary>Saves the items now if any finished since the last save; nothing once completed or disposed.</summary>
    public Task SaveAsync(CancellationToken cancellationToken) => _completed || _disposed ? Task.CompletedTask : SaveNowAsync(cancellationToken);

    private async Task SaveNowAsync(CancellationToken cancellationToken)
    {
        await _saving.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Dictionary<int, T> snapshot;
            int version;
            lock (_items)
            {
                if (_version == _saved) return;
                version = _version;
                snapshot = new Dictionary<int, T>(_items);
            }
            await _store.WriteAsync(_key, snapshot, cancellationToken).ConfigureAwait(false);
            Writes++;
            _saved = version;
        }
        catch (Exception e) when (StorageFailure.Is(e))
        {
            _logger.LogWarning(e, "Checkpoint {Key}: could not save; trying again with the next items", _key);
        }
        finally
        {
            _saving.Release();
        }
    }

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_interval, _time, _stop.Token).ConfigureAwait(false);
                await SaveAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Stops the interval saves (waiting for one in flight) and, unless <see cref="Completed"/>, saves what is
    /// unsaved. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        if (!_completed)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await SaveNowAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                _logger.LogWarning("Checkpoint {Key}: the last save timed out", _key);
            }
        }
        _stop.Dispose();
        _saving.Dispose();
    }
}
