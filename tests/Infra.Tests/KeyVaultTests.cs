namespace Serverless.Infra.Tests;

/// <summary>The key of the /v1 routes lives in Key Vault: the app setting is a Key Vault reference to it, resolved with the
/// app's user-assigned identity, which may read the vault's secrets and nothing more.</summary>
[Collection(CompiledTemplateCollection.Name)]
public sealed class KeyVaultTests(CompiledTemplate compiled)
{
    [Fact]
    public void The_vault_is_authorised_by_azure_rbac_and_keeps_deleted_secrets()
    {
        var vault = compiled.Single("Microsoft.KeyVault/vaults");

        Assert.True(TemplateAssert.Literal<bool>(vault.Properties?["enableRbacAuthorization"], "enableRbacAuthorization"));
        Assert.True(TemplateAssert.Literal<bool>(vault.Properties?["enableSoftDelete"], "enableSoftDelete"));
        Assert.Null(vault.Properties?["accessPolicies"]);
    }

    [Fact]
    public void The_app_setting_is_a_versionless_key_vault_reference_to_the_openai_key_secret()
    {
        var settings = Assert.Single(compiled.OfType("Microsoft.Web/sites/config"), c => c.ShortName == "appsettings").Properties!.AsObject();
        var secret = compiled.Single("Microsoft.KeyVault/vaults/secrets");
        var vault = compiled.Single("Microsoft.KeyVault/vaults");

        var reference = TemplateAssert.Text(settings["OpenAi__ApiKey"], "OpenAi__ApiKey");
        Assert.Equal("openai-api-key", secret.ShortName);
        Assert.StartsWith("@Microsoft.KeyVault(SecretUri=https://", reference, StringComparison.Ordinal);
        Assert.EndsWith("/secrets/openai-api-key)", reference, StringComparison.Ordinal);
        Assert.Contains(vault.Name, reference, StringComparison.Ordinal);
    }

    [Fact]
    public void References_resolve_with_the_apps_user_assigned_identity()
    {
        var site = compiled.Single("Microsoft.Web/sites");

        var identity = TemplateAssert.Text(site.Properties?["keyVaultReferenceIdentity"], "keyVaultReferenceIdentity");
        Assert.Contains("Microsoft.ManagedIdentity/userAssignedIdentities", identity, StringComparison.Ordinal);
    }
}
