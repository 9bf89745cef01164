namespace Serverless.Infra.Tests;

/// <summary>Nothing in the compiled template reads, builds or outputs a key.</summary>
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
    [InlineData("securestring")]
    public void Compiled_template_does_not_contain(string text)
    {
        _ = compiled.Root; // fails with the build's diagnostics if there is no template
        Assert.DoesNotContain(text, compiled.Json, StringComparison.OrdinalIgnoreCase);
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
