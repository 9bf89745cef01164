using Azure.Storage.Queues;
using Microsoft.Extensions.Configuration;
using Serverless.Jobs.Storage;

namespace Serverless.Jobs.Tests;

/// <summary>The queue client from Functions-style connection settings (no network: only what the client was built from).</summary>
public sealed class StorageClientFactoryTests
{
    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, (string?)v.Value))).Build();

    [Fact]
    public void A_connection_string_gives_a_shared_key_client()
    {
        var client = StorageClientFactory.CreateQueueServiceClient(Config(("AzureWebJobsStorage", "UseDevelopmentStorage=true")), "AzureWebJobsStorage");
        Assert.Equal("devstoreaccount1", client.AccountName);
        Assert.True(client.CanGenerateAccountSasUri);
    }

    [Theory]
    [InlineData("AzureWebJobsStorage:queueServiceUri", "https://stexample.queue.core.windows.net")]
    [InlineData("AzureWebJobsStorage:accountName", "stexample")]
    public void Identity_based_settings_give_a_token_client_for_the_account(string key, string value)
    {
        var client = StorageClientFactory.CreateQueueServiceClient(
            Config((key, value), ("AzureWebJobsStorage:credential", "managedidentity"), ("AzureWebJobsStorage:clientId", Guid.NewGuid().ToString())),
            "AzureWebJobsStorage");
        Assert.Equal(new Uri("https://stexample.queue.core.windows.net/"), client.Uri);
        Assert.Equal("stexample", client.AccountName);
        // No key: the shared credential is absent, so the client authenticates with the token credential.
        Assert.False(client.CanGenerateAccountSasUri);
    }

    [Fact]
    public void No_connection_says_which_settings_to_set()
    {
        var e = Assert.Throws<InvalidOperationException>(() => StorageClientFactory.CreateQueueServiceClient(Config(), "AzureWebJobsStorage"));
        Assert.Contains("AzureWebJobsStorage__queueServiceUri", e.Message);
    }
}
