namespace Serverless.Infra.Tests;

/// <summary>The templates compile and lint clean: any diagnostic, warning or error, fails.</summary>
[Collection(CompiledTemplateCollection.Name)]
public sealed class BicepBuildTests(CompiledTemplate compiled)
{
    private static List<string> InfraFiles() =>
        Directory.EnumerateFiles(BicepCli.InRepository("infra"), "*.bicep", SearchOption.AllDirectories)
            .Select(file => Path.GetRelativePath(BicepCli.RepositoryRoot, file).Replace('\\', '/'))
            .Order(StringComparer.Ordinal)
            .ToList();


    [Fact]
    public void Main_builds_without_any_diagnostic()
    {
        Assert.Equal(0, compiled.Build.ExitCode);
        AssertNoDiagnostics(compiled.Build.StandardError);
        Assert.StartsWith("{", compiled.Json.TrimStart(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_file_lints_without_any_diagnostic()
    {
        // One process for all files (`**` also matches infra/ itself); diagnostics name the file they are in.
        var lint = await BicepCli.RunAsync("lint", "--pattern", "infra/**/*.bicep", "--no-restore");

        Assert.True(lint.ExitCode == 0, $"bicep lint exited {lint.ExitCode}:\n{lint.Diagnostics}");
        AssertNoDiagnostics(lint.Diagnostics);
    }

    [Fact]
    public void Infra_has_the_expected_modules()
    {
        // The lint above passes on an empty match too; this keeps it honest.
        var files = InfraFiles();
        Assert.Contains("infra/main.bicep", files);
        Assert.Contains("infra/app/api.bicep", files);
        Assert.Contains("infra/app/rbac.bicep", files);
        Assert.True(files.Count >= 5, string.Join(", ", files));
    }

    [Fact]
    public async Task Repository_bicep_config_turns_linter_rules_into_errors()
    {
        // A file that breaks rules on purpose, linted with the repository's bicepconfig.json (the CLI finds
        // it by walking up from the file): each must be an error, and the date-based API-version rule silent.
        var lint = await BicepCli.RunAsync("lint", "--pattern", "tests/Infra.Tests/Fixtures/**/*.bicep", "--no-restore");

        Assert.NotEqual(0, lint.ExitCode);
        Assert.Contains("lint-violations.bicep", lint.Diagnostics, StringComparison.Ordinal);
        Assert.Contains("Error no-hardcoded-location", lint.Diagnostics, StringComparison.Ordinal);
        Assert.Contains("Error no-unused-vars", lint.Diagnostics, StringComparison.Ordinal);
        Assert.Contains("Error no-hardcoded-env-urls", lint.Diagnostics, StringComparison.Ordinal);
        Assert.Contains("Error outputs-should-not-contain-secrets", lint.Diagnostics, StringComparison.Ordinal);
        Assert.DoesNotContain("use-recent-api-versions", lint.Diagnostics, StringComparison.Ordinal);
        Assert.DoesNotContain("Warning", lint.Diagnostics, StringComparison.Ordinal);
    }

    private static void AssertNoDiagnostics(string output)
    {
        Assert.True(string.IsNullOrWhiteSpace(output), $"Expected no diagnostics, got:\n{output}");
    }
}
