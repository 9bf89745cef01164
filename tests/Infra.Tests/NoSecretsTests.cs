namespace Serverless.Infra.Tests;

/// <summary>Nothing in the compiled template reads, builds or outputs a key; the one secret it takes (the /v1 key) goes
/// straight into Key Vault.</summary>
[Collection(CompiledTemplateCollection.Name)]
public sealed class NoSecretsTests(CompiledTemplate compiled)
{
    [Theory]
    [InlineData("listKeys")]
    [InlineData("listAccountSas")]
    [InlineData("listServiceSas")]
    [InlineData("AccountKey=")]
    [InlineData("SharedAccessSignature")]
    [InlineData("DefaultEndpointsProtocol")]
    [InlineData("InstrumentationKey=")]
    [InlineData("APPINSIGHTS_INSTRUMENTATIONKEY")]
    public void Compiled_template_does_not_contain(string text)
    {
        _ = compiled.Root; // fails with the build's diagnostics if there is no template
        Assert.DoesNotContain(text, compiled.Json, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void The_only_secure_input_is_the_OpenAI_key_and_only_a_Key_Vault_secret_receives_it()
    {
        // Every securestring parameter, in main and in every module.
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Count(compiled.Json, "\"securestring\"", System.Text.RegularExpressions.RegexOptions.IgnoreCase));
        var parameters = compiled.Root.Template["parameters"]!.AsObject();
        Assert.Equal("securestring", parameters["openAiApiKey"]!["type"]!.GetValue<string>());
        Assert.Single(parameters, p => p.Value!["type"]!.GetValue<string>().Equals("securestring", StringComparison.OrdinalIgnoreCase));
        // Main hands it to the keyVault module only; that module writes it into the secret's value only.
        var deployments = compiled.OfType("Microsoft.Resources/deployments").Where(d => d.Raw.ToJsonString().Contains("openAiApiKey", StringComparison.Ordinal)).ToList();
        Assert.Equal("keyVault", Assert.Single(deployments).Name);
        var secret = compiled.Single("Microsoft.KeyVault/vaults/secrets");
        Assert.Equal("[parameters('openAiApiKey')]", secret.Raw["properties"]?["value"]?.GetValue<string>());
        Assert.DoesNotContain("openAiApiKey", compiled.Root.Template["outputs"]!.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Outputs_include_what_azd_and_the_docs_use()
    {
        var outputs = compiled.Root.Template["outputs"]!.AsObject();

        foreach (var name in new[] { "AZURE_LOCATION", "AZURE_TENANT_ID", "AZURE_RESOURCE_GROUP", "SERVICE_API_NAME",
                     "AZURE_FUNCTION_APP_NAME", "SERVICE_API_URI", "AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_BLOB_ENDPOINT" })
        {
            Assert.True(outputs.ContainsKey(name), $"Output {name} is missing.");
        }
        var uri = TemplateAssert.Text(compiled.Root.Evaluate(outputs["SERVICE_API_URI"]!["value"]), "SERVICE_API_URI");
        Assert.StartsWith("https://${", uri, StringComparison.Ordinal);
        Assert.EndsWith(".outputs.defaultHostName.value}/api", uri, StringComparison.Ordinal);
    }
}
