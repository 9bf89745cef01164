using System.Diagnostics;

namespace Serverless.Functions.Tests;

/// <summary><c>scripts/install-cli.sh</c>, as README tells a newcomer to run it: <c>src/Cli</c> packed as a .NET tool and
/// installed from the local folder only (no registry asked), answering as <c>serverless</c>.</summary>
public sealed class CliToolInstallTests
{
    [Fact]
    public async Task The_install_script_puts_a_serverless_command_in_the_tool_path_that_runs()
    {
        var toolPath = Directory.CreateTempSubdirectory("serverless-tool-");
        try
        {
            var install = await RunAsync("bash", [Path.Combine(Paths.RepositoryRoot, "scripts", "install-cli.sh"), "--tool-path", toolPath.FullName]);
            Assert.True(install.ExitCode == 0, install.Output);

            var bare = await RunAsync(Path.Combine(toolPath.FullName, "serverless"), []);
            Assert.True(bare.ExitCode == 0, bare.Output);
            Assert.Contains("serverless [command] [options]", bare.Output);
        }
        finally
        {
            toolPath.Delete(recursive: true);
        }
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string file, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
