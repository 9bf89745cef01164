using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs;

namespace Serverless.Functions;

/// <summary>
/// Runs one job from the <c>%PromptJobsQueue%</c> queue. Messages are plain text (host.json messageEncoding "none"),
/// so people can drop a prompt or a JSON job spec into the queue by hand. A transient failure throws, and the host
/// makes the message visible again after visibilityTimeout; after maxDequeueCount it moves to the poison queue.
/// </summary>
public sealed class ProcessJob(JobWorker worker)
{
    // id and dequeueCount are bound by name from the trigger's metadata (Id, DequeueCount; the lookup ignores case).
    // dequeueCount is a long: that is the queue extension's type, and an int fails to bind.
    [Function(nameof(ProcessJob))]
    public Task RunAsync(
        [QueueTrigger("%PromptJobsQueue%", Connection = "AzureWebJobsStorage")] string message,
        string id,
        long dequeueCount,
        CancellationToken cancellationToken)
        => worker.ProcessAsync(message, id, dequeueCount, cancellationToken);
}
