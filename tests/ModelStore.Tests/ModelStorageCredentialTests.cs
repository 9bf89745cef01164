using Azure.Identity;

namespace Serverless.ModelStore.Tests;

/// <summary>The one credential rule for identity-based connections (the jobs queue uses it too).</summary>
public sealed class ModelStorageCredentialTests
{
    private static Func<string, string?> Settings(params (string Key, string Value)[] values)
    {
        var map = values.ToDictionary(v => v.Key, v => (string?)v.Value);
        return k => map.GetValueOrDefault(k);
    }

    [Theory]
    [InlineData("conn__credential", "managedidentity")]
    [InlineData("conn:credential", "ManagedIdentity")]
    public void Credential_managedidentity_selects_a_managed_identity(string key, string value)
    {
        Assert.IsType<ManagedIdentityCredential>(ModelStorage.CreateCredential("conn", Settings((key, value))));
        Assert.IsType<ManagedIdentityCredential>(ModelStorage.CreateCredential("conn", Settings((key, value), ("conn__clientId", Guid.NewGuid().ToString()))));
    }

    [Fact]
    public void Without_credential_setting_DefaultAzureCredential_is_used()
    {
        Assert.IsType<DefaultAzureCredential>(ModelStorage.CreateCredential("conn", Settings()));
        Assert.IsType<DefaultAzureCredential>(ModelStorage.CreateCredential("conn", Settings(("conn__clientId", Guid.NewGuid().ToString()))));
        // Another connection's setting does not apply.
        Assert.IsType<DefaultAzureCredential>(ModelStorage.CreateCredential("conn", Settings(("other__credential", "managedidentity"))));
    }
}
