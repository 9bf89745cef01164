using Azure.Storage.Queues;

namespace Serverless.Jobs.Storage;

/// <summary>The submit side of the job queue (plain-text messages; the queue is created once per process).</summary>
internal sealed class JobQueue
{
    private readonly OnceAsync _ensureCreated;

    /// <param name="queue">Created with <c>QueueMessageEncoding.None</c> (host.json sets messageEncoding "none").</param>
    public JobQueue(QueueClient queue)
    {
        Client = queue;
        _ensureCreated = new OnceAsync(ct => queue.CreateIfNotExistsAsync(cancellationToken: ct));
    }

    public QueueClient Client { get; }

    public Task SendAsync(string message, CancellationToken cancellationToken) => SendAsync(message, TimeSpan.Zero, cancellationToken);

    /// <summary>Sends a message that stays invisible for <paramref name="visibleAfter"/>.</summary>
    public async Task SendAsync(string message, TimeSpan visibleAfter, CancellationToken cancellationToken)
    {
        await _ensureCreated.RunAsync(cancellationToken).ConfigureAwait(false);
        await Client.SendMessageAsync(message, visibleAfter, cancellationToken: cancellationToken).ConfigureAwait(false);
    }
}
