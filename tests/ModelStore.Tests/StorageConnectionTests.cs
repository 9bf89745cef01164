using Azure.Identity;

namespace Serverless.ModelStore.Tests;

/// <summary>The one place that turns connection settings into storage clients (no network: only what a client was built from).</summary>
public sealed class StorageConnectionTests
{
    private static Func<string, string?> Settings(params (string Key, string Value)[] values)
    {
        var map = values.ToDictionary(v => v.Key, v => (string?)v.Value);
        return k => map.GetValueOrDefault(k);
    }

    private static StorageConnection Connection(params (string Key, string Value)[] values) =>
        StorageConnection.FromSettings("AzureWebJobsStorage", Settings(values));

    [Fact]
    public void A_connection_string_gives_shared_key_clients_for_both_services()
    {
        var connection = Connection(("AzureWebJobsStorage", "UseDevelopmentStorage=true"));
        var queues = connection.CreateQueueServiceClient(StorageRetry.ModelTransfer);
        var blobs = connection.CreateBlobServiceClient(StorageRetry.ModelTransfer);
        Assert.Equal(("devstoreaccount1", "devstoreaccount1"), (queues.AccountName, blobs.AccountName));
        Assert.True(queues.CanGenerateAccountSasUri);
        Assert.True(blobs.CanGenerateAccountSasUri);
    }

    [Fact]
    public void A_connection_string_under_ConnectionStrings_counts_too()
    {
        var connection = Connection(("ConnectionStrings:AzureWebJobsStorage", "UseDevelopmentStorage=true"));
        Assert.Equal("devstoreaccount1", connection.CreateBlobServiceClient(StorageRetry.ModelTransfer).AccountName);
    }

    [Theory]
    [InlineData("AzureWebJobsStorage:queueServiceUri", "https://stexample.queue.core.windows.net")]
    [InlineData("AzureWebJobsStorage__queueServiceUri", "https://stexample.queue.core.windows.net")]
    [InlineData("AzureWebJobsStorage:accountName", "stexample")]
    public void Identity_based_settings_give_a_token_queue_client_for_the_account(string key, string value)
    {
        var client = Connection((key, value), ("AzureWebJobsStorage:credential", "managedidentity"), ("AzureWebJobsStorage:clientId", Guid.NewGuid().ToString()))
            .CreateQueueServiceClient(StorageRetry.Http(TimeSpan.FromSeconds(5)));
        Assert.Equal(new Uri("https://stexample.queue.core.windows.net/"), client.Uri);
        // No key: the shared credential is absent, so the client authenticates with the token credential.
        Assert.False(client.CanGenerateAccountSasUri);
    }

    [Theory]
    [InlineData("AzureWebJobsStorage__blobServiceUri", "https://stexample.blob.core.windows.net")]
    [InlineData("AzureWebJobsStorage__serviceUri", "https://stexample.blob.core.windows.net")]
    [InlineData("AzureWebJobsStorage__accountName", "stexample")]
    public void Identity_based_settings_give_a_token_blob_client_for_the_account(string key, string value)
    {
        var client = Connection((key, value)).CreateBlobServiceClient(StorageRetry.ModelTransfer);
        Assert.Equal(new Uri("https://stexample.blob.core.windows.net/"), client.Uri);
        Assert.False(client.CanGenerateAccountSasUri);
    }

    [Fact]
    public void A_blob_only_connection_serves_blobs_and_names_the_missing_queue_setting()
    {
        var connection = Connection(("AzureWebJobsStorage__blobServiceUri", "https://stexample.blob.core.windows.net"));
        Assert.Equal("stexample", connection.CreateBlobServiceClient(StorageRetry.ModelTransfer).AccountName);
        var e = Assert.Throws<InvalidOperationException>(() => connection.CreateQueueServiceClient(StorageRetry.CommandLine));
        Assert.Contains("AzureWebJobsStorage__queueServiceUri", e.Message);
    }

    [Fact]
    public void No_connection_says_which_settings_to_set()
    {
        Assert.Contains("AzureWebJobsStorage__queueServiceUri",
            Assert.Throws<InvalidOperationException>(() => Connection().CreateQueueServiceClient(StorageRetry.CommandLine)).Message);
        Assert.Contains("AzureWebJobsStorage__blobServiceUri",
            Assert.Throws<InvalidOperationException>(() => Connection().CreateBlobServiceClient(StorageRetry.CommandLine)).Message);
    }

    [Fact]
    public void A_command_line_service_uri_serves_either_service_with_a_token()
    {
        var blobs = StorageConnection.FromArgument("https://stexample.blob.core.windows.net").CreateBlobServiceClient(StorageRetry.ModelTransfer);
        var queues = StorageConnection.FromArgument("https://stexample.queue.core.windows.net").CreateQueueServiceClient(StorageRetry.CommandLine);
        Assert.Equal(new Uri("https://stexample.blob.core.windows.net/"), blobs.Uri);
        Assert.Equal(new Uri("https://stexample.queue.core.windows.net/"), queues.Uri);
        Assert.False(blobs.CanGenerateAccountSasUri);
        Assert.False(queues.CanGenerateAccountSasUri);
        Assert.True(StorageConnection.FromArgument("UseDevelopmentStorage=true").CreateQueueServiceClient(StorageRetry.CommandLine).CanGenerateAccountSasUri);
    }

    [Fact]
    public void The_model_uses_the_hosts_connection_unless_Model__Connection_names_another()
    {
        var host = StorageConnection.FromArgument("https://hostacct.blob.core.windows.net");
        Assert.Equal("hostacct", ModelStorage.CreateContainerClient(Settings(), host).AccountName);
        Assert.Equal("devstoreaccount1",
            ModelStorage.CreateContainerClient(Settings(("Model__Connection", "M"), ("M", "UseDevelopmentStorage=true")), host).AccountName);
    }

    [Theory]
    [InlineData("conn__credential", "managedidentity")]
    [InlineData("conn:credential", "ManagedIdentity")]
    public void Credential_managedidentity_selects_a_managed_identity(string key, string value)
    {
        Assert.IsType<ManagedIdentityCredential>(StorageConnection.FromSettings("conn", Settings((key, value))).CreateCredential());
        Assert.IsType<ManagedIdentityCredential>(StorageConnection.FromSettings("conn", Settings((key, value), ("conn__clientId", Guid.NewGuid().ToString()))).CreateCredential());
    }

    [Fact]
    public void Without_credential_setting_DefaultAzureCredential_is_used()
    {
        Assert.IsType<DefaultAzureCredential>(StorageConnection.FromSettings("conn", Settings()).CreateCredential());
        Assert.IsType<DefaultAzureCredential>(StorageConnection.FromSettings("conn", Settings(("conn__clientId", Guid.NewGuid().ToString()))).CreateCredential());
        // Another connection's setting does not apply.
        Assert.IsType<DefaultAzureCredential>(StorageConnection.FromSettings("conn", Settings(("other__credential", "managedidentity"))).CreateCredential());
    }
}
