using Azure.Storage.Queues.Models;
using Microsoft.Azure.WebJobs;
using Serverless.Functions;

namespace Serverless.LocalHost;

/// <summary>
/// WebJobs SDK trigger wiring for the Functions app's queue functions: the same queue names and connection as the
/// Functions attributes, and one call into the same function class, with its parameters bound as the isolated worker
/// binds them (<see cref="IsolatedWorkerBinding"/>). Only this wiring differs between the two hosts.
/// </summary>
public sealed class QueueTriggers(ProcessJob processJob, FailPoisonedJob failPoisonedJob, ProcessBatchWork processBatchWork, FailPoisonedBatchWork failPoisonedBatchWork)
{
    [FunctionName(nameof(ProcessJob))]
    public Task ProcessJobAsync(
        [QueueTrigger("%PromptJobsQueue%", Connection = "AzureWebJobsStorage")] QueueMessage message,
        CancellationToken cancellationToken)
        => IsolatedWorkerBinding.InvokeAsync(processJob, message, cancellationToken);

    [FunctionName(nameof(FailPoisonedJob))]
    public Task FailPoisonedJobAsync(
        [QueueTrigger("%PromptJobsQueue%-poison", Connection = "AzureWebJobsStorage")] QueueMessage message,
        CancellationToken cancellationToken)
        => IsolatedWorkerBinding.InvokeAsync(failPoisonedJob, message, cancellationToken);

    [FunctionName(nameof(ProcessBatchWork))]
    public Task ProcessBatchWorkAsync(
        [QueueTrigger("%BatchQueue%", Connection = "AzureWebJobsStorage")] QueueMessage message,
        CancellationToken cancellationToken)
        => IsolatedWorkerBinding.InvokeAsync(processBatchWork, message, cancellationToken);

    [FunctionName(nameof(FailPoisonedBatchWork))]
    public Task FailPoisonedBatchWorkAsync(
        [QueueTrigger("%BatchQueue%-poison", Connection = "AzureWebJobsStorage")] QueueMessage message,
        CancellationToken cancellationToken)
        => IsolatedWorkerBinding.InvokeAsync(failPoisonedBatchWork, message, cancellationToken);
}
