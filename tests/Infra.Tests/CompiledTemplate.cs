using System.Text.Json.Nodes;

namespace Serverless.Infra.Tests;

/// <summary>infra/main.bicep compiled once per test run (about 3 s) and shared by the tests that read it.</summary>
public sealed class CompiledTemplate : IAsyncLifetime
{
    public const string MainFile = "infra/main.bicep";

    internal BicepCli.Result Build { get; private set; } = null!;

    /// <summary>The ARM JSON exactly as `bicep build --stdout` printed it.</summary>
    public string Json { get; private set; } = "";

    private ArmScope? _root;
    private IReadOnlyList<ArmResource>? _resources;

    internal ArmScope Root => _root ?? throw BuildFailed();

    internal IReadOnlyList<ArmResource> Resources => _resources ?? throw BuildFailed();

    public async Task InitializeAsync()
    {
        Build = await BicepCli.RunAsync("build", MainFile, "--stdout", "--no-restore");
        if (Build.ExitCode != 0)
        {
            // Reported by the tests that read the template; the lint tests still run.
            return;
        }
        Json = Build.StandardOutput;
        _root = ArmScope.Root(JsonNode.Parse(Json)!.AsObject());
        _resources = _root.AllResources().ToList();
    }

    private InvalidOperationException BuildFailed() =>
        new($"bicep build {MainFile} failed ({Build.ExitCode}), so there is no template to check:\n{Build.Diagnostics}");

    public Task DisposeAsync() => Task.CompletedTask;

    internal IReadOnlyList<ArmResource> OfType(string type) =>
        Resources.Where(r => string.Equals(r.Type, type, StringComparison.OrdinalIgnoreCase)).ToList();

    internal ArmResource Single(string type)
    {
        var found = OfType(type);
        Assert.True(found.Count == 1, $"Expected exactly one {type}, found {found.Count}.");
        return found[0];
    }
}

[CollectionDefinition(Name)]
public sealed class CompiledTemplateCollection : ICollectionFixture<CompiledTemplate>
{
    public const string Name = "compiled infra/main.bicep";
}
