using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Serverless.Infra.Tests;

/// <summary>azure.yaml and infra/main.parameters.json agree with the template and the repository.</summary>
[Collection(CompiledTemplateCollection.Name)]
public sealed partial class AzdFilesTests(CompiledTemplate compiled)
{
    [Fact]
    public void Parameters_file_supplies_every_required_parameter_and_no_unknown_one()
    {
        var supplied = JsonNode.Parse(File.ReadAllText(BicepCli.InRepository("infra/main.parameters.json")))!["parameters"]!.AsObject();
        var declared = compiled.Root.Template["parameters"]!.AsObject();

        Assert.All(supplied, p => Assert.True(declared.ContainsKey(p.Key), $"main.parameters.json sets '{p.Key}', which main.bicep does not declare."));
        // azd generates a parameter whose metadata says so (the /v1 key) and keeps it in the environment: not in the file.
        var required = declared.Where(p => p.Value?["defaultValue"] is null && p.Value?["metadata"]?["azd"]?["type"]?.GetValue<string>() != "generate").Select(p => p.Key);
        Assert.Equal(["openAiApiKey"], declared.Where(p => p.Value?["metadata"]?["azd"]?["type"]?.GetValue<string>() == "generate").Select(p => p.Key));
        Assert.DoesNotContain("openAiApiKey", supplied.Select(p => p.Key));
        Assert.All(required, name => Assert.True(supplied.ContainsKey(name), $"main.parameters.json does not set required parameter '{name}'."));
        Assert.Equal("${AZURE_ENV_NAME}", supplied["environmentName"]?["value"]?.GetValue<string>());
        Assert.Equal("${AZURE_LOCATION}", supplied["location"]?["value"]?.GetValue<string>());
        Assert.Equal("${AZURE_PRINCIPAL_ID}", supplied["principalId"]?["value"]?.GetValue<string>());
    }

    [Fact]
    public void Azure_yaml_deploys_the_functions_project_as_service_api()
    {
        var yaml = File.ReadAllText(BicepCli.InRepository("azure.yaml"));
        var service = ServiceBlock().Match(yaml);

        Assert.True(service.Success, "azure.yaml has no 'api' service.");
        var block = service.Groups["body"].Value;
        Assert.Matches(@"(?m)^\s+host:\s*function\s*$", block);
        Assert.Matches(@"(?m)^\s+language:\s*dotnet\s*$", block);
        var project = Regex.Match(block, @"(?m)^\s+project:\s*(?<path>\S+)\s*$").Groups["path"].Value;
        Assert.True(File.Exists(Path.Combine(BicepCli.InRepository(project), "Functions.csproj")), $"azure.yaml project '{project}' has no Functions.csproj.");
        // The same name the function app's azd-service-name tag carries (FunctionAppTests).
        Assert.Equal("api", compiled.Single("Microsoft.Web/sites").Evaluated("tags")?["azd-service-name"]?.GetValue<string>());
    }

    [GeneratedRegex(@"(?ms)^services:\s*\n\s+api:\s*\n(?<body>(?:\s{4,}\S.*\n?)+)")]
    private static partial Regex ServiceBlock();
}
