using Serverless.Inference.Model;
using Serverless.ModelStore;

namespace Serverless.Jobs.Models;

/// <summary>The model store's provider as the job pipeline's model source.</summary>
internal sealed class ModelStoreJobModelSource(ModelProvider<T5Model> provider) : IJobModelSource
{
    public async Task<JobModelLease> AcquireAsync(CancellationToken cancellationToken)
    {
        var before = provider.LastLoad;
        var lease = await provider.AcquireAsync(cancellationToken).ConfigureAwait(false);
        // A new load record appeared while we waited: this call (or one it joined) paid for the download and load.
        var after = provider.LastLoad;
        TimeSpan? loadTime = after is not null && !ReferenceEquals(before, after) ? after.SyncDuration + after.LoadDuration : null;
        return new JobModelLease(lease.Model, loadTime, lease, new JobModelInfo(provider.Container.Name, provider.Prefix, lease.Version));
    }
}
