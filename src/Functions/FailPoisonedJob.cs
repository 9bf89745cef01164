using Azure.Storage.Queues.Models;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs;

namespace Serverless.Functions;

/// <summary>
/// A message that failed maxDequeueCount times lands in <c>%PromptJobsQueue%-poison</c>: record its job as failed,
/// so a client polling <c>GET /api/jobs/{id}</c> gets an answer instead of "queued" forever.
/// </summary>
public sealed class FailPoisonedJob(PoisonJobHandler handler)
{
    // The message itself, not a `string id` bound by name: see ProcessJob (a JSON body's "id" would win).
    [Function(nameof(FailPoisonedJob))]
    public Task RunAsync(
        [QueueTrigger("%PromptJobsQueue%-poison", Connection = "AzureWebJobsStorage")] QueueMessage message,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        return handler.HandleAsync(message.Body?.ToString() ?? "", message.MessageId, cancellationToken);
    }
}
