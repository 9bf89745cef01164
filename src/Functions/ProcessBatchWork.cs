using Azure.Storage.Queues.Models;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs.Batches;
using Serverless.Jobs.Failover;

namespace Serverless.Functions;

/// <summary>
/// Runs one message of the <c>%BatchQueue%</c> queue: a batch's validation and fan-out, one chunk of its lines, or a
/// JSONL dropped as <c>{"input_blob": "container/name.jsonl", "endpoint": …}</c>. The queue's length is what Flex
/// Consumption scales on, so a large batch spreads over instances. A transient failure throws and the message is retried;
/// every step is idempotent (docs/batches.md).
/// </summary>
public sealed class ProcessBatchWork(BatchWorker worker, ShutdownDrain drain)
{
    [Function(nameof(ProcessBatchWork))]
    public Task RunAsync(
        [QueueTrigger("%BatchQueue%", Connection = "AzureWebJobsStorage")] QueueMessage message,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        // On shutdown a chunk whose lines are decoding may finish within Failover__DrainBudget; the rest is handed back at once.
        return drain.RunAsync(token => worker.ProcessAsync(message.Body?.ToString() ?? "", message.MessageId, message.InsertedOn, token), cancellationToken);
    }
}
