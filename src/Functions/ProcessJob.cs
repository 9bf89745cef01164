using Azure.Storage.Queues.Models;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs;
using Serverless.Jobs.Failover;

namespace Serverless.Functions;

/// <summary>
/// Runs one job from the <c>%PromptJobsQueue%</c> queue. Messages are plain text (host.json messageEncoding "none"),
/// so people can drop a prompt or a JSON job spec into the queue by hand. A transient failure throws, and the host
/// makes the message visible again after visibilityTimeout; after maxDequeueCount it moves to the poison queue.
/// </summary>
public sealed class ProcessJob(JobWorker worker, ShutdownDrain drain)
{
    // The message itself, not `string id, long dequeueCount` bound by name: the Functions host adds a JSON message's
    // top-level properties to the trigger's binding data, over the message's own Id and DequeueCount (names compared
    // ignoring case), so {"id": "x", ...} would choose its own job id and {"dequeueCount": "abc"} would fail to bind.
    // QueueMessage comes from the host's own copy of the message (deferred binding), which the body cannot change.
    [Function(nameof(ProcessJob))]
    public Task RunAsync(
        [QueueTrigger("%PromptJobsQueue%", Connection = "AzureWebJobsStorage")] QueueMessage message,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        // On shutdown a started decode may finish within Failover__DrainBudget; the rest is handed back at once.
        return drain.RunAsync(token => worker.ProcessAsync(message.Body?.ToString() ?? "", message.MessageId, message.DequeueCount, token), cancellationToken);
    }
}
