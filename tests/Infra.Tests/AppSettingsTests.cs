using System.Text.Json.Nodes;

namespace Serverless.Infra.Tests;

/// <summary>The deployed app settings match what the code reads (local.settings.sample.json) and use identities.</summary>
[Collection(CompiledTemplateCollection.Name)]
public sealed class AppSettingsTests(CompiledTemplate compiled)
{
    // Not deployed: Flex takes the runtime from functionAppConfig and rejects FUNCTIONS_WORKER_RUNTIME;
    // AzureWebJobsStorage is replaced by its identity-based AzureWebJobsStorage__* form; an empty
    // Model__CacheDirectory means "under the temp folder", which is also what an absent one means; Callbacks__Secret is a
    // secret: set it on the app (a Key Vault reference), never in the template (empty: jobs with a callback_url are refused);
    // OpenAi__ApiKey is deployed as a Key Vault reference, not the sample's value (KeyVaultTests).
    private static readonly string[] NotDeployed = ["FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage", "Model__CacheDirectory", "Callbacks__Secret", "OpenAi__ApiKey"];

    private JsonObject Settings()
    {
        var config = Assert.Single(compiled.OfType("Microsoft.Web/sites/config"), c => c.ShortName == "appsettings");
        var properties = config.Properties;
        Assert.True(properties is JsonObject, $"appsettings could not be evaluated offline: {properties}");
        return properties!.AsObject();
    }

    private static JsonObject SampleValues()
    {
        var sample = JsonNode.Parse(File.ReadAllText(BicepCli.InRepository("local.settings.sample.json")))!;
        return sample["Values"]!.AsObject();
    }

    private static List<string> DeployedSampleNames() =>
        SampleValues().Select(p => p.Key).Where(name => !NotDeployed.Contains(name)).ToList();

    public static TheoryData<string> SampleSettingNames() => new(DeployedSampleNames());

    [Theory]
    [MemberData(nameof(SampleSettingNames))]
    public void Every_setting_the_code_reads_is_deployed_with_its_sample_value(string name)
    {
        var settings = Settings();

        Assert.True(settings.ContainsKey(name), $"App setting '{name}' (local.settings.sample.json) is not set by infra/.");
        Assert.Equal(SampleValues()[name]!.GetValue<string>(), TemplateAssert.Literal<string>(settings[name], name));
    }

    [Fact]
    public void The_sample_lists_exactly_the_settings_the_code_reads()
    {
        var read = SettingsTheCodeReads.Names();
        // Read by the Functions host, not by this code.
        var sample = SampleValues().Select(p => p.Key).Where(name => name != "FUNCTIONS_WORKER_RUNTIME").ToHashSet(StringComparer.Ordinal);

        // Both bindings ran (the job pipeline's and the model store's), or the comparison below would prove nothing.
        Assert.True(read.Contains("PromptJobsQueue") && read.Contains("Model__Prefix") && read.Contains("Inference__IntraOpThreads"),
            $"The binding was not discovered: {string.Join(", ", read)}");
        Assert.Empty(read.Except(sample).Order(StringComparer.Ordinal));
        Assert.Empty(sample.Except(read).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Every_setting_the_code_reads_is_deployed()
    {
        var settings = Settings();

        Assert.Empty(SettingsTheCodeReads.Names().Where(name => !NotDeployed.Contains(name) && !settings.ContainsKey(name)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Sample_still_lists_the_settings_this_test_expects()
    {
        // Guards the theory: an emptied sample would make it vacuous.
        Assert.True(DeployedSampleNames().Count >= 9);
    }

    [Fact]
    public void Named_containers_and_queue_exist_in_the_storage_account()
    {
        var settings = Settings();
        var containers = compiled.OfType("Microsoft.Storage/storageAccounts/blobServices/containers").Select(c => c.ShortName).ToList();
        var queues = compiled.OfType("Microsoft.Storage/storageAccounts/queueServices/queues").Select(q => q.ShortName).ToList();

        Assert.Contains(settings["JobsContainer"]!.GetValue<string>(), containers);
        Assert.Contains(settings["CompletionsContainer"]!.GetValue<string>(), containers);
        Assert.Contains(settings["Model__Container"]!.GetValue<string>(), containers);
        Assert.Contains(settings["PromptJobsQueue"]!.GetValue<string>(), queues);
        Assert.Contains(settings["PromptJobsQueue"]!.GetValue<string>() + "-poison", queues);
    }

    [Fact]
    public void Host_storage_is_identity_based_with_the_user_assigned_identity()
    {
        var settings = Settings();
        var clientId = TemplateAssert.Text(settings["AzureWebJobsStorage__clientId"], "AzureWebJobsStorage__clientId");

        Assert.False(settings.ContainsKey("AzureWebJobsStorage"), "A connection string would need an account key.");
        Assert.Equal("managedidentity", TemplateAssert.Literal<string>(settings["AzureWebJobsStorage__credential"], "__credential"));
        Assert.Contains("Microsoft.ManagedIdentity/userAssignedIdentities", clientId, StringComparison.Ordinal);
        Assert.EndsWith(".clientId]", clientId, StringComparison.Ordinal);
        Assert.EndsWith(".primaryEndpoints.blob]", TemplateAssert.Text(settings["AzureWebJobsStorage__blobServiceUri"], "__blobServiceUri"), StringComparison.Ordinal);
        Assert.EndsWith(".primaryEndpoints.queue]", TemplateAssert.Text(settings["AzureWebJobsStorage__queueServiceUri"], "__queueServiceUri"), StringComparison.Ordinal);
        // Model__Connection names this connection, so the model store uses the same identity and account.
        Assert.Equal("AzureWebJobsStorage", settings["Model__Connection"]!.GetValue<string>());
    }

    [Fact]
    public void Application_insights_is_reached_with_entra_id_only()
    {
        var settings = Settings();
        var component = compiled.Single("Microsoft.Insights/components").Properties;

        Assert.True(TemplateAssert.Literal<bool>(component?["DisableLocalAuth"], "DisableLocalAuth"));
        var authentication = TemplateAssert.Text(settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"], "APPLICATIONINSIGHTS_AUTHENTICATION_STRING");
        Assert.StartsWith("ClientId=${", authentication, StringComparison.Ordinal);
        Assert.Contains("Microsoft.ManagedIdentity/userAssignedIdentities", authentication, StringComparison.Ordinal);
        Assert.EndsWith(".clientId};Authorization=AAD", authentication, StringComparison.Ordinal);
        Assert.EndsWith(".ConnectionString]", TemplateAssert.Text(settings["APPLICATIONINSIGHTS_CONNECTION_STRING"], "APPLICATIONINSIGHTS_CONNECTION_STRING"), StringComparison.Ordinal);
        Assert.False(settings.ContainsKey("APPINSIGHTS_INSTRUMENTATIONKEY"));
    }

    [Theory]
    [InlineData("FUNCTIONS_WORKER_RUNTIME")]
    [InlineData("FUNCTIONS_EXTENSION_VERSION")]
    [InlineData("WEBSITE_RUN_FROM_PACKAGE")]
    [InlineData("AzureWebJobsStorage__tableServiceUri")]
    public void Settings_flex_rejects_or_this_app_does_not_need_are_absent(string name)
    {
        Assert.False(Settings().ContainsKey(name), $"{name} must not be set.");
    }
}
