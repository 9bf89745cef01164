using Azure.Storage.Queues.Models;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs.Batches;

namespace Serverless.Functions;

/// <summary>
/// A batch message that failed maxDequeueCount times lands in <c>%BatchQueue%-poison</c>: a chunk's lines go to the
/// error file (<c>batch_chunk_failed</c>) and count as failed, so the batch still finishes; a validation fails the batch.
/// </summary>
public sealed class FailPoisonedBatchWork(BatchWorker worker)
{
    [Function(nameof(FailPoisonedBatchWork))]
    public Task RunAsync(
        [QueueTrigger("%BatchQueue%-poison", Connection = "AzureWebJobsStorage")] QueueMessage message,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        return worker.HandlePoisonAsync(message.Body?.ToString() ?? "", message.MessageId, cancellationToken);
    }
}
