using Microsoft.Azure.WebJobs;
using Serverless.Functions;

namespace Serverless.LocalHost;

/// <summary>
/// WebJobs SDK trigger wiring for the Functions app's queue functions: the same queue names and connection as the
/// Functions attributes, and one call into the same function class. Only this wiring differs between the two hosts.
/// </summary>
public sealed class QueueTriggers(ProcessJob processJob, FailPoisonedJob failPoisonedJob)
{
    [FunctionName(nameof(ProcessJob))]
    public Task ProcessJobAsync(
        [QueueTrigger("%PromptJobsQueue%", Connection = "AzureWebJobsStorage")] string message,
        string id,
        long dequeueCount,
        CancellationToken cancellationToken)
        => processJob.RunAsync(message, id, dequeueCount, cancellationToken);

    [FunctionName(nameof(FailPoisonedJob))]
    public Task FailPoisonedJobAsync(
        [QueueTrigger("%PromptJobsQueue%-poison", Connection = "AzureWebJobsStorage")] string message,
        string id,
        CancellationToken cancellationToken)
        => failPoisonedJob.RunAsync(message, id, cancellationToken);
}
