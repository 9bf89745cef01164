using Microsoft.Extensions.Logging;
using Serverless.Jobs.Specs;

namespace Serverless.Jobs.Checkpoints;

/// <summary>Opens an attempt's <see cref="ResumedPrompts"/>: the job's checkpoints in <c>jobs/_checkpoints/</c>, saved at
/// most every <c>Failover__CheckpointInterval</c>.</summary>
internal sealed class JobCheckpoints(CheckpointStore store, TimeSpan interval, TimeProvider time, ILogger<JobCheckpoints> logger)
{
    public const string Prefix = "_checkpoints/";

    /// <param name="retry">Not the job's first attempt: an earlier one may have kept finished prompts.</param>
    public Task<ResumedPrompts> OpenAsync(string id, JobSpec spec, bool retry, CancellationToken cancellationToken) =>
        ResumedPrompts.StartAsync(store, id, spec, retry, interval, time, logger, cancellationToken);
}
