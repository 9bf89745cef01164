namespace Serverless.ModelStore.Tests;

public sealed class SecretMaskerTests
{
    [Theory]
    [InlineData("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=abc+/def==;EndpointSuffix=core.windows.net",
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=***;EndpointSuffix=core.windows.net")]
    [InlineData("AccountName=acct;accountkey=abc==", "AccountName=acct;accountkey=***")]
    [InlineData("BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&ss=b&sig=abc%2Bdef%3D",
        "BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=***")]
    [InlineData("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=xyz=",
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=***")]
    [InlineData("https://acct.blob.core.windows.net/models?sv=2022-11-02&se=2030-01-01&sig=abc%2Bdef%3D&sp=r",
        "https://acct.blob.core.windows.net/models?sv=2022-11-02&se=2030-01-01&sig=***&sp=r")]
    [InlineData("https://app.azurewebsites.net/api/jobs?code=functionkey123", "https://app.azurewebsites.net/api/jobs?code=***")]
    [InlineData("failed for 'AccountKey=abc==' in a message", "failed for 'AccountKey=***' in a message")]
    public void Hides_keys_and_signatures_and_keeps_the_rest(string text, string expected) =>
        Assert.Equal(expected, SecretMasker.Redact(text));

    [Theory]
    [InlineData("UseDevelopmentStorage=true")]
    [InlineData("https://acct.blob.core.windows.net/")]
    [InlineData("The container name 'models' has no signature (design) or code review")]
    [InlineData("")]
    public void Leaves_text_without_secrets_unchanged(string text) => Assert.Equal(text, SecretMasker.Redact(text));

    [Fact]
    public void Model_store_errors_never_carry_a_key()
    {
        var e = new ModelStoreUnavailableException("Could not use AccountKey=topsecret== at https://a.blob.core.windows.net/m?sig=s1gnature");

        Assert.DoesNotContain("topsecret", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("s1gnature", e.Message, StringComparison.Ordinal);
        Assert.Contains("AccountKey=***", e.Message, StringComparison.Ordinal);
    }
}
