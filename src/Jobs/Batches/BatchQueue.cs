using System.Text.Json;
using Azure.Storage.Queues;
using Serverless.Jobs.Storage;

namespace Serverless.Jobs.Batches;

/// <summary>The batch work queue (plain-text JSON messages, as host.json's <c>messageEncoding</c> "none" reads them).</summary>
internal sealed class BatchQueue
{
    private readonly QueueClient _queue;
    private readonly OnceAsync _ensureCreated;

    public BatchQueue(QueueClient queue)
    {
        _queue = queue;
        _ensureCreated = new OnceAsync(async ct => await _queue.CreateIfNotExistsAsync(cancellationToken: ct).ConfigureAwait(false));
    }

    public QueueClient Client => _queue;

    public Task SendAsync(BatchMessage message, CancellationToken cancellationToken) => SendAsync(message, TimeSpan.Zero, cancellationToken);

    /// <summary>Sends a message that stays invisible for <paramref name="visibleAfter"/>.</summary>
    public async Task SendAsync(BatchMessage message, TimeSpan visibleAfter, CancellationToken cancellationToken)
    {
        await _ensureCreated.RunAsync(cancellationToken).ConfigureAwait(false);
        await _queue.SendMessageAsync(JsonSerializer.Serialize(message, BatchJson.Line), visibleAfter, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends many, 16 at a time: a 50,000-line batch is 500 chunk messages.</summary>
    public async Task SendAllAsync(IReadOnlyList<BatchMessage> messages, CancellationToken cancellationToken)
    {
        await _ensureCreated.RunAsync(cancellationToken).ConfigureAwait(false);
        await Parallel.ForEachAsync(messages, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken },
            async (message, ct) => await _queue.SendMessageAsync(JsonSerializer.Serialize(message, BatchJson.Line), ct).ConfigureAwait(false)).ConfigureAwait(false);
    }
}
