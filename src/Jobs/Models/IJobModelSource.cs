using Serverless.Inference.Model;

namespace Serverless.Jobs.Models;

/// <summary>Where the worker and the submit get the loaded model from (the model store, in production).</summary>
internal interface IJobModelSource
{
    /// <summary>The loaded model, downloading and loading it first if needed. Throws the model store's exceptions.</summary>
    Task<JobModelLease> AcquireAsync(CancellationToken cancellationToken);
}

/// <summary>Use of the loaded model for one job. <see cref="LoadTime"/> is set when this acquire loaded it.</summary>
internal sealed class JobModelLease(T5Model model, TimeSpan? loadTime, IDisposable? release, JobModelInfo? info = null) : IDisposable
{
    public T5Model Model { get; } = model;
    /// <summary>Which model this is (container, prefix, version fingerprint); null where the source cannot say.</summary>
    public JobModelInfo? Info { get; } = info;
    public TimeSpan? LoadTime { get; } = loadTime;
    public void Dispose() => release?.Dispose();
}

/// <summary>The model a job ran on, recorded with its output: the container and prefix it came from and the fingerprint of
/// the version (the blob names, ETags and sizes — with a manifest, the manifest's ETag — of the files loaded).</summary>
internal sealed record JobModelInfo(string Container, string Prefix, string Version);
