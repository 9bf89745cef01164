using System.Diagnostics;
using System.Reflection;

namespace Serverless.Infra.Tests;

/// <summary>Runs the Bicep CLI that restore downloaded (PackageDownload in the project file).</summary>
internal static class BicepCli
{
    public sealed record Result(int ExitCode, string StandardOutput, string StandardError, TimeSpan Elapsed)
    {
        public string Diagnostics => (StandardError + Environment.NewLine + StandardOutput).Trim();
    }

    public static string ExecutablePath { get; } = Metadata("BicepPath");

    public static string RepositoryRoot { get; } = Path.TrimEndingDirectorySeparator(Metadata("RepositoryRoot"));

    public static string InRepository(string relativePath) => Path.Combine(RepositoryRoot, relativePath);

    public static async Task<Result> RunAsync(params string[] arguments)
    {
        if (!File.Exists(ExecutablePath))
        {
            throw new FileNotFoundException(
                $"The Bicep CLI is not at '{ExecutablePath}'. Run `dotnet restore tests/Infra.Tests` (PackageDownload Azure.Bicep.CommandLine.linux-x64).",
                ExecutablePath);
        }

        var start = new ProcessStartInfo(ExecutablePath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = RepositoryRoot,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        // No telemetry, no update checks: the tests run offline.
        start.Environment["BICEP_TRACING_ENABLED"] = "false";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";

        var stopwatch = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start '{ExecutablePath}'.");
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"bicep {string.Join(' ', arguments)} did not finish within 2 minutes.");
        }
        return new Result(process.ExitCode, await stdout, await stderr, stopwatch.Elapsed);
    }

    private static string Metadata(string key) =>
        typeof(BicepCli).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .SingleOrDefault(a => a.Key == key)?.Value
        ?? throw new InvalidOperationException($"Assembly metadata '{key}' is missing; see Infra.Tests.csproj.");
}
