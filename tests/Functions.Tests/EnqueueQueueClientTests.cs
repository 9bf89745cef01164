using Azure.Storage.Queues;
using Serverless.Cli.Commands;
using Serverless.Functions.Tests.Infrastructure;

namespace Serverless.Functions.Tests;

/// <summary>
/// <c>jobs enqueue --connection</c>: a connection string gives a key-based client, a queue service URI a token-based one;
/// either way the message text goes into the queue as is (host.json messageEncoding "none").
/// </summary>
public sealed class EnqueueQueueClientTests
{
    [Fact]
    public void A_queue_service_uri_gives_a_client_without_a_key()
    {
        var client = JobCommands.QueueFor("https://stexample.queue.core.windows.net", "prompt-jobs");

        Assert.Equal(new Uri("https://stexample.queue.core.windows.net/prompt-jobs"), client.Uri);
        Assert.Equal("stexample", client.AccountName);
        Assert.Equal("prompt-jobs", client.Name);
        // No shared key to sign with: requests carry the DefaultAzureCredential token instead.
        Assert.False(client.CanGenerateSasUri);
        Assert.True(JobCommands.QueueFor("UseDevelopmentStorage=true", "prompt-jobs").CanGenerateSasUri);
    }

    [Fact]
    public async Task A_connection_string_client_sends_the_text_unencoded()
    {
        await Storage.EnsureReachableAsync(Storage.ConnectionString);
        var name = Storage.UniqueName("enqueue");
        var client = JobCommands.QueueFor(Storage.ConnectionString, name);
        try
        {
            const string text = """{"prompt": "Wo liegt Europa? ü ✓"}""";
            var id = await JobClient.EnqueueAsync(client, text, CancellationToken.None);

            // A client with the SDK default (no encoding) reads the stored body: base64 would not round-trip here.
            var raw = new QueueClient(Storage.ConnectionString, name, new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None });
            var peeked = Assert.Single((await raw.PeekMessagesAsync(maxMessages: 5)).Value);
            Assert.Equal(id, peeked.MessageId);
            Assert.Equal(text, peeked.Body.ToString());
        }
        finally
        {
            await client.DeleteIfExistsAsync();
        }
    }
}
