using Serverless.Inference.Model;

namespace Serverless.Jobs.Models;

/// <summary>Where the worker and the submit get the loaded model from (the model store, in production).</summary>
internal interface IJobModelSource
{
    /// <summary>The loaded model, downloading and loading it first if needed. Throws the model store's exceptions.</summary>
    Task<JobModelLease> AcquireAsync(CancellationToken cancellationToken);
}

/// <summary>Use of the loaded model for one job. <see cref="LoadTime"/> is set when this acquire loaded it.</summary>
internal sealed class JobModelLease(T5Model model, TimeSpan? loadTime, IDisposable? release) : IDisposable
{
    public T5Model Model { get; } = model;
    public TimeSpan? LoadTime { get; } = loadTime;
    public void Dispose() => release?.Dispose();
}
