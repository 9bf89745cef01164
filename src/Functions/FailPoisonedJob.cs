using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs;

namespace Serverless.Functions;

/// <summary>
/// A message that failed maxDequeueCount times lands in <c>%PromptJobsQueue%-poison</c>: record its job as failed,
/// so a client polling <c>GET /api/jobs/{id}</c> gets an answer instead of "queued" forever.
/// </summary>
public sealed class FailPoisonedJob(PoisonJobHandler handler)
{
    [Function(nameof(FailPoisonedJob))]
    public Task RunAsync(
        [QueueTrigger("%PromptJobsQueue%-poison", Connection = "AzureWebJobsStorage")] string message,
        string id,
        CancellationToken cancellationToken)
        => handler.HandleAsync(message, id, cancellationToken);
}
