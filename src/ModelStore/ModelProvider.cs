using System.Diagnostics;
using Azure.Storage.Blobs;
using Serverless.ModelStore.Telemetry;

namespace Serverless.ModelStore;

/// <summary>
/// Lazily downloads a model from Blob Storage into a local cache folder and loads it once per process. Nothing happens
/// at construction; the first <see cref="AcquireAsync"/> downloads (or reuses verified cached files) and loads, and
/// concurrent first callers share that single download and load. Later calls return the loaded model at once.
/// </summary>
/// <typeparam name="TModel">The loaded model; disposed when replaced by a newer version and no lease holds it.</typeparam>
public sealed class ModelProvider<TModel> : IDisposable where TModel : class, IDisposable
{
    private readonly BlobContainerClient _container;
    private readonly ModelStoreOptions _options;
    private readonly Func<string, CancellationToken, TModel> _loader;
    private readonly IProgress<ModelTransferProgress>? _progress;
    private readonly ModelCacheSynchronizer _sync;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _disposed = new();
    private LoadedModel<TModel>? _current;
    private long _lastCheckTicks;
    private int _refreshRunning;

    /// <param name="container">The container holding the model (see <see cref="ModelStorage.CreateContainerClient"/>).</param>
    /// <param name="options">Prefix, cache folder and transfer settings; <see cref="ModelStoreOptions.Container"/> is taken from <paramref name="container"/>.</param>
    /// <param name="loader">Loads a model from a local folder; runs on the thread pool, once per version.</param>
    /// <param name="progress">Download progress, reported from transfer threads.</param>
    public ModelProvider(
        BlobContainerClient container, ModelStoreOptions options, Func<string, CancellationToken, TModel> loader,
        IProgress<ModelTransferProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(container);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loader);
        _options = options with { Container = container.Name };
        _options.Validate();
        _container = container;
        _loader = loader;
        _progress = progress;
        CacheDirectory = string.IsNullOrEmpty(options.CacheDirectory)
            ? DefaultCacheDirectory(container, _options.NormalizedPrefix)
            : Path.GetFullPath(options.CacheDirectory);
        _sync = new ModelCacheSynchronizer(container, _options, CacheDirectory);
    }

    /// <summary>The local folder the model is cached in.</summary>
    public string CacheDirectory { get; }

    /// <summary>The container the model is read from (a second provider of other files of the same model shares it).</summary>
    public BlobContainerClient Container => _container;

    /// <summary>The model's prefix in <see cref="Container"/>, normalized ("" or ending in '/').</summary>
    public string Prefix => _options.NormalizedPrefix;

    /// <summary>The version loaded and being handed out now; null before the first load. Never loads anything.</summary>
    public string? LoadedVersion => Volatile.Read(ref _current)?.Version;

    /// <summary>What the most recent load cost; null before the first.</summary>
    public ModelLoadInfo? LastLoad { get; private set; }

    /// <summary>The failure of the last background refresh (the previous model kept serving); null when it succeeded.</summary>
    public Exception? LastRefreshError { get; private set; }

    /// <summary>
    /// Returns the loaded model, downloading and loading it first if this process has not yet. Dispose the lease when
    /// the request is done.
    /// </summary>
    /// <exception cref="ModelStoreException">Storage or the cache failed; see <see cref="ModelStoreException.IsTransient"/>.</exception>
    public async Task<ModelLease<TModel>> AcquireAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
        if (TryLease(out var lease))
        {
            MaybeStartRefresh();
            return lease;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Whoever held the gate before us may have loaded it: single flight.
            if (TryLease(out lease)) return lease;
            using var activity = ModelStoreTelemetry.Source.StartActivity("model.load");
            LoadedModel<TModel> loaded;
            try
            {
                var (started, listing) = (DateTimeOffset.UtcNow, Stopwatch.StartNew());
                var remote = await GetRemoteAsync(cancellationToken).ConfigureAwait(false);
                loaded = await SyncAndLoadAsync(remote, started, listing.Elapsed, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                activity?.SetStatus(ActivityStatusCode.Error, e.GetType().Name);
                throw;
            }
            if (LastLoad is { } load) ModelStoreTelemetry.RecordLoad(activity, load);
            loaded.TryAddReference();
            lease = new ModelLease<TModel>(loaded);
            Swap(loaded);
            return lease;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Checks storage for a changed model and, if it changed, downloads and loads the new version, then swaps it in.
    /// Requests already holding the old model keep it until their leases end. Returns whether a new version was loaded.
    /// </summary>
    public async Task<bool> RefreshAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var (started, listing) = (DateTimeOffset.UtcNow, Stopwatch.StartNew());
            var remote = await GetRemoteAsync(cancellationToken).ConfigureAwait(false);
            if (Volatile.Read(ref _current) is { } current && current.Version == remote.Fingerprint) return false;
            Swap(await SyncAndLoadAsync(remote, started, listing.Elapsed, cancellationToken).ConfigureAwait(false));
            return true;
        }
        finally
        {
            _gate.Release();
        }
    }

    private bool TryLease(out ModelLease<TModel> lease)
    {
        if (Volatile.Read(ref _current) is { } current && current.TryAddReference())
        {
            lease = new ModelLease<TModel>(current);
            return true;
        }
        lease = null!;
        return false;
    }

    private void Swap(LoadedModel<TModel> loaded)
    {
        Interlocked.Exchange(ref _current, loaded)?.Release();
        if (_disposed.IsCancellationRequested) Interlocked.Exchange(ref _current, null)?.Release();
    }

    private async Task<RemoteModel> GetRemoteAsync(CancellationToken cancellationToken)
    {
        Interlocked.Exchange(ref _lastCheckTicks, Stopwatch.GetTimestamp());
        try
        {
            return await _sync.GetRemoteAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (StorageErrors.MapOther(e, _container) is { } mapped)
        {
            throw mapped;
        }
    }

    /// <summary>
    /// Runs the loader on a thread of its own: a load blocks for seconds (ONNX Runtime's session creation), and on a new
    /// instance it runs while the host is still starting, whose work the thread pool's few threads should be free for.
    /// </summary>
    private Task<TModel> Load(CancellationToken cancellationToken) =>
        Task.Factory.StartNew(() => _loader(CacheDirectory, cancellationToken), cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private async Task<LoadedModel<TModel>> SyncAndLoadAsync(
        RemoteModel remote, DateTimeOffset started, TimeSpan listDuration, CancellationToken cancellationToken)
    {
        // The lock is held through the load too, so another process cannot swap files under a model being loaded.
        using var fileLock = await CacheLock.AcquireAsync(CacheDirectory, _options.CacheLockTimeout, cancellationToken).ConfigureAwait(false);
        var sync = await SyncAsync(remote, deferHashing: true, cancellationToken).ConfigureAwait(false);

        var stopwatch = Stopwatch.StartNew();
        // Cached files untouched since they were verified are re-hashed while the model loads (the warm-start path):
        // the load does not wait for the hash, but the model is not handed out until the hash agrees.
        var loading = Load(cancellationToken);
        IReadOnlyList<string> corrupt;
        var verifying = Stopwatch.StartNew();
        try
        {
            corrupt = await _sync.FindCorruptAsync(sync.Unverified, cancellationToken).ConfigureAwait(false);
            verifying.Stop();
        }
        catch
        {
            await DisposeWhenLoadedAsync(loading).ConfigureAwait(false);
            throw;
        }

        if (corrupt.Count > 0)
        {
            // A cached file changed without its size or write time moving: throw the load away, fetch those files again.
            await DisposeWhenLoadedAsync(loading).ConfigureAwait(false);
            sync = await SyncAsync(remote, deferHashing: false, cancellationToken).ConfigureAwait(false);
            stopwatch.Restart();
            loading = Load(cancellationToken);
        }
        var model = await loading.ConfigureAwait(false);

        LastLoad = new ModelLoadInfo(sync.Fingerprint, CacheDirectory, sync.FilesDownloaded, sync.FilesReused, sync.BytesDownloaded,
            sync.Elapsed, stopwatch.Elapsed)
        {
            StartedAt = started,
            ListDuration = listDuration,
            HashDuration = sync.HashTime,
            VerifyDuration = sync.Unverified.Count > 0 ? verifying.Elapsed : TimeSpan.Zero,
        };
        return new LoadedModel<TModel>(model, sync.Fingerprint);
    }

    private async Task<SyncResult> SyncAsync(RemoteModel remote, bool deferHashing, CancellationToken cancellationToken)
    {
        try
        {
            return await _sync.SyncAsync(remote, _progress, deferHashing, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (StorageErrors.MapOther(e, _container) is { } mapped)
        {
            throw mapped;
        }
    }

    private static async Task DisposeWhenLoadedAsync(Task<TModel> loading)
    {
        try
        {
            (await loading.ConfigureAwait(false)).Dispose();
        }
        catch (Exception)
        {
            // The load failed as well; the caller is already reporting the reason that matters.
        }
    }

    private void MaybeStartRefresh()
    {
        if (_options.RefreshInterval is not { } interval) return;
        if (Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastCheckTicks)) < interval) return;
        if (Interlocked.CompareExchange(ref _refreshRunning, 1, 0) != 0) return;
        Interlocked.Exchange(ref _lastCheckTicks, Stopwatch.GetTimestamp());
        // In the background: this request and others keep using the current model meanwhile.
        _ = Task.Run(async () =>
        {
            try
            {
                await RefreshAsync(_disposed.Token).ConfigureAwait(false);
                LastRefreshError = null;
            }
            catch (Exception e)
            {
                LastRefreshError = e;
            }
            finally
            {
                Volatile.Write(ref _refreshRunning, 0);
            }
        });
    }

    /// <summary>
    /// <c>&lt;temp&gt;/serverless-models/&lt;account&gt;-&lt;endpoint hash&gt;/&lt;container&gt;/&lt;prefix&gt;</c>. The hash
    /// (8 hex digits of the SHA-256 of the blob service endpoint) keeps apart two endpoints with the same account name:
    /// two Azurites, or Azurite and a real account called devstoreaccount1.
    /// </summary>
    public static string DefaultCacheDirectory(BlobContainerClient container, string prefix)
    {
        ArgumentNullException.ThrowIfNull(container);
        var parts = new List<string>
        {
            Path.GetTempPath(), "serverless-models", Safe(container.AccountName) + "-" + EndpointHash(container.Uri), Safe(container.Name),
        };
        parts.AddRange(ModelStoreOptions.NormalizePrefix(prefix).Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Safe));
        return Path.Combine([.. parts]);

        static string Safe(string segment)
        {
            var invalid = Path.GetInvalidFileNameChars();
            var s = new string(segment.Select(c => invalid.Contains(c) ? '_' : c).ToArray());
            return s is "." or ".." || s.Length == 0 ? "_" : s;
        }
    }

    /// <summary>8 hex digits of the SHA-256 of the service endpoint: the container URI without its SAS and container name.</summary>
    internal static string EndpointHash(Uri containerUri)
    {
        var path = containerUri.AbsolutePath.TrimEnd('/');
        var service = containerUri.GetLeftPart(UriPartial.Authority) + path[..Math.Max(0, path.LastIndexOf('/'))];
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(service.ToLowerInvariant()));
        return Convert.ToHexStringLower(hash)[..8];
    }

    /// <summary>Releases the provider's reference; the model is disposed once no lease holds it.</summary>
    public void Dispose()
    {
        if (_disposed.IsCancellationRequested) return;
        _disposed.Cancel();
        Interlocked.Exchange(ref _current, null)?.Release();
    }
}
