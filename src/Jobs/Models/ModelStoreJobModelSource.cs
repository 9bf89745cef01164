using Microsoft.Extensions.Logging;
using Serverless.Inference.Model;
using Serverless.ModelStore;

namespace Serverless.Jobs.Models;

/// <summary>The model store's provider as the job pipeline's model source.</summary>
/// <param name="readiness">Told of every acquire's outcome, so health can say why the model cannot be served.</param>
/// <param name="logger">Told once per loaded model when its rows cannot join a running batch, and why.</param>
internal sealed class ModelStoreJobModelSource(ModelProvider<T5Model> provider, ModelReadiness? readiness = null, ILogger? logger = null) : IJobModelSource
{
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
        return new JobModelLease(lease.Model, loadTime, lease, new JobModelInfo(provider.Container.Name, provider.Prefix, lease.Version));
    }
}
