using Serverless.Inference.Model;
using Serverless.ModelStore;

namespace Serverless.Jobs.Models;

/// <summary>The model store's provider as the job pipeline's model source.</summary>
/// <param name="readiness">Told of every acquire's outcome, so health can say why the model cannot be served.</param>
internal sealed class ModelStoreJobModelSource(ModelProvider<T5Model> provider, ModelReadiness? readiness = null) : IJobModelSource
{
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
        // A new load record appeared while we waited: this call (or one it joined) paid for the download and load.
        var after = provider.LastLoad;
        TimeSpan? loadTime = after is not null && !ReferenceEquals(before, after) ? after.SyncDuration + after.LoadDuration : null;
        return new JobModelLease(lease.Model, loadTime, lease, new JobModelInfo(provider.Container.Name, provider.Prefix, lease.Version));
    }
}
