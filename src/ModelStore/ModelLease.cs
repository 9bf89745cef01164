namespace Serverless.ModelStore;

/// <summary>
/// A loaded model held for the length of one request. Dispose it when the request ends: a model replaced by a newer
/// version is disposed only after its last lease is.
/// </summary>
public sealed class ModelLease<TModel> : IDisposable where TModel : class, IDisposable
{
    private LoadedModel<TModel>? _holder;

    internal ModelLease(LoadedModel<TModel> holder) => _holder = holder;

    /// <summary>The model. Do not use it after disposing the lease.</summary>
    public TModel Model => (_holder ?? throw new ObjectDisposedException(nameof(ModelLease<TModel>))).Model;

    /// <summary>A short fingerprint of the model version (blob names, ETags, sizes) this lease holds.</summary>
    public string Version => (_holder ?? throw new ObjectDisposedException(nameof(ModelLease<TModel>))).Version;

    public void Dispose() => Interlocked.Exchange(ref _holder, null)?.Release();
}

/// <summary>A loaded model with a reference count: the provider holds one reference, each lease another.</summary>
internal sealed class LoadedModel<TModel>(TModel model, string version) where TModel : class, IDisposable
{
    private int _references = 1;

    public TModel Model { get; } = model;
    public string Version { get; } = version;

    /// <summary>Takes a reference unless the model is already being disposed.</summary>
    public bool TryAddReference()
    {
        var count = Volatile.Read(ref _references);
        while (count > 0)
        {
            var seen = Interlocked.CompareExchange(ref _references, count + 1, count);
            if (seen == count) return true;
            count = seen;
        }
        return false;
    }

    public void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0) Model.Dispose();
    }
}
