using System.Text.Json.Nodes;

namespace Serverless.Infra.Tests;

[Collection(CompiledTemplateCollection.Name)]
public sealed class FunctionAppTests(CompiledTemplate compiled)
{
    [Fact]
    public void Plan_is_flex_consumption_on_linux()
    {
        var plan = compiled.Single("Microsoft.Web/serverfarms");

        Assert.Equal("FC1", TemplateAssert.Literal<string>(plan.Evaluated("sku")?["name"], "sku.name"));
        Assert.Equal("FlexConsumption", TemplateAssert.Literal<string>(plan.Evaluated("sku")?["tier"], "sku.tier"));
        Assert.True(TemplateAssert.Literal<bool>(plan.Properties?["reserved"], "reserved"));
    }

    [Fact]
    public void App_is_linux_dotnet_isolated_10_on_that_plan()
    {
        var app = compiled.Single("Microsoft.Web/sites");
        var plan = compiled.Single("Microsoft.Web/serverfarms");
        var runtime = app.Properties?["functionAppConfig"]?["runtime"];

        Assert.Equal("functionapp,linux", TemplateAssert.Literal<string>(app.Evaluated("kind"), "kind"));
        Assert.Equal("dotnet-isolated", TemplateAssert.Literal<string>(runtime?["name"], "runtime.name"));
        Assert.Equal("10.0", TemplateAssert.Literal<string>(runtime?["version"], "runtime.version"));
        Assert.True(TemplateAssert.Literal<bool>(app.Properties?["httpsOnly"], "httpsOnly"));
        Assert.Contains(plan.Name, TemplateAssert.Text(app.Properties?["serverFarmId"], "serverFarmId"), StringComparison.Ordinal);
    }

    [Fact]
    public void Scale_defaults_are_2048_MB_and_a_bounded_instance_count()
    {
        var scale = compiled.Single("Microsoft.Web/sites").Properties?["functionAppConfig"]?["scaleAndConcurrency"];
        var memoryParameter = compiled.Root.Template["parameters"]?["instanceMemoryMB"];

        // Evaluated through main's parameter defaults and the module parameters.
        Assert.Equal(2048, TemplateAssert.Literal<int>(scale?["instanceMemoryMB"], "instanceMemoryMB"));
        Assert.Equal(40, TemplateAssert.Literal<int>(scale?["maximumInstanceCount"], "maximumInstanceCount"));
        Assert.Equal([512, 2048, 4096], memoryParameter?["allowedValues"]?.AsArray().Select(v => v!.GetValue<int>()));
    }

    [Fact]
    public void Deployment_package_comes_from_the_deployment_container_with_the_user_assigned_identity()
    {
        var app = compiled.Single("Microsoft.Web/sites");
        var storage = app.Properties?["functionAppConfig"]?["deployment"]?["storage"];
        var deploymentContainer = compiled.OfType("Microsoft.Storage/storageAccounts/blobServices/containers")
            .Single(c => c.ShortName.StartsWith("app-package-", StringComparison.Ordinal)).ShortName;
        var identity = compiled.Single("Microsoft.ManagedIdentity/userAssignedIdentities").Name;

        Assert.Equal("blobContainer", TemplateAssert.Literal<string>(storage?["type"], "deployment.storage.type"));
        Assert.EndsWith(deploymentContainer, TemplateAssert.Text(storage?["value"], "deployment.storage.value"), StringComparison.Ordinal);
        Assert.Contains("primaryEndpoints.blob", TemplateAssert.Text(storage?["value"], "deployment.storage.value"), StringComparison.Ordinal);
        Assert.Equal("UserAssignedIdentity", TemplateAssert.Literal<string>(storage?["authentication"]?["type"], "authentication.type"));
        var identityId = TemplateAssert.Text(storage?["authentication"]?["userAssignedIdentityResourceId"], "userAssignedIdentityResourceId");
        Assert.Contains("Microsoft.ManagedIdentity/userAssignedIdentities", identityId, StringComparison.Ordinal);
        Assert.Contains(Unwrap(identity), identityId, StringComparison.Ordinal);
    }

    [Fact]
    public void App_runs_as_the_user_assigned_identity_only()
    {
        var app = compiled.Single("Microsoft.Web/sites");
        var identity = app.Evaluated("identity");

        Assert.Equal("UserAssigned", TemplateAssert.Literal<string>(identity?["type"], "identity.type"));
        Assert.Single(identity!["userAssignedIdentities"]!.AsObject());
    }

    [Fact]
    public void Azd_finds_the_app_by_its_service_tag_and_every_resource_carries_the_environment_tag()
    {
        var appTags = compiled.Single("Microsoft.Web/sites").Evaluated("tags");
        Assert.Equal("api", TemplateAssert.Literal<string>(appTags?["azd-service-name"], "azd-service-name tag"));

        var tagged = compiled.Resources.Where(r => r.Raw.ContainsKey("location")).ToList();
        Assert.NotEmpty(tagged);
        Assert.All(tagged, r => Assert.Equal("[parameters('environmentName')]", TemplateAssert.Text(r.Evaluated("tags")?["azd-env-name"], $"{r.Type} azd-env-name tag")));
    }

    private static string Unwrap(string text) => ArmExpression.IsExpression(text) ? text[1..^1] : text;
}
