using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Serverless.Inference.Model;
using Serverless.ModelStore;

namespace Serverless.Jobs.Models;

/// <summary>The model store's provider as the job pipeline's model source.</summary>
/// <param name="readiness">Told of every acquire's outcome, so health can say why the model cannot be served.</param>
/// <param name="logger">Gets each load's cold-start line (<see cref="ModelLoadLog"/>), once per load, from the first acquire
/// that uses it: a job's, inside a function invocation (under the Functions host a worker's log lines from before its first
/// invocation may never reach the host's log, as the warm-up's do not); and, once per loaded model, why its rows cannot
/// join a running batch when they cannot.</param>
internal sealed class ModelStoreJobModelSource(ModelProvider<T5Model> provider, ModelReadiness? readiness = null, ILogger? logger = null) : IJobModelSource
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private ModelLoadInfo? _logged;
    private T5Model? _reported;

    public async Task<JobModelLease> AcquireAsync(CancellationToken cancellationToken)
    {
        var before = provider.LastLoad;
        ModelLease<T5Model> lease;
        try
        {
            lease = await provider.AcquireAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            readiness?.Failed(e);
            throw;
        }
        readiness?.Succeeded();
        if (logger is not null && lease.Model.JoinUnavailableReason is { } reason && !ReferenceEquals(Interlocked.Exchange(ref _reported, lease.Model), lease.Model))
            logger.LogWarning("Model {ModelVersion}: prompts cannot join a running batch: {Reason}", lease.Version, reason);
        // A new load record appeared while we waited: this call (or one it joined) paid for the download and load.
        var after = provider.LastLoad;
        TimeSpan? loadTime = after is not null && !ReferenceEquals(before, after) ? after.SyncDuration + after.LoadDuration : null;
        if (after is not null && !ReferenceEquals(Interlocked.Exchange(ref _logged, after), after))
            ModelLoadLog.Loaded(_logger, after);
        return new JobModelLease(lease.Model, loadTime, lease, new JobModelInfo(provider.Container.Name, provider.Prefix, lease.Version));
    }
}
