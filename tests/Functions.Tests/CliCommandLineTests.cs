using System.Net;
using System.Net.Sockets;
using Serverless.Functions.Tests.Infrastructure;

namespace Serverless.Functions.Tests;

/// <summary>
/// <c>serverless</c> as people use command lines, run as a process: help when called bare, "did you mean" for a typo,
/// every option checked before anything is sent, and errors that say what to do next.
/// </summary>
public sealed class CliCommandLineTests
{
    /// <summary>A local port nothing listens on (taken from the OS, then released).</summary>
    private static int ClosedPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    [Fact]
    public async Task Bare_serverless_prints_the_help_and_exits_0()
    {
        var r = await CliProcess.RunAsync();

        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("Commands:", r.Stdout);
        Assert.Contains("jobs", r.Stdout);
        Assert.Equal("", r.Stderr);
    }

    [Fact]
    public async Task A_group_without_a_command_prints_its_help_and_exits_0()
    {
        var r = await CliProcess.RunAsync("jobs");

        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("submit", r.Stdout);
        Assert.Contains("wait", r.Stdout);
    }

    [Theory]
    [InlineData("job list", "serverless jobs list")]
    [InlineData("jobs stauts abc", "serverless jobs status abc")]
    [InlineData("modle list --json", "serverless model list --json")]
    public async Task An_unknown_command_suggests_the_nearest_one_with_the_rest_of_the_line(string commandLine, string suggestion)
    {
        var r = await CliProcess.RunAsync(commandLine.Split(' '));

        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains($"Did you mean '{suggestion}'?", r.Stderr);
        Assert.Equal("", r.Stdout);
    }

    [Fact]
    public async Task Model_bench_takes_the_model_folder_as_model_like_complete_and_bench_and_still_accepts_model_dir()
    {
        var help = await CliProcess.RunAsync("model", "bench", "--help");
        // --runs 0 stops at validation: what is left to see is whether the folder option was recognised.
        var named = await CliProcess.RunAsync("model", "bench", "--model", Paths.DemoModelDirectory, "--runs", "0");
        var old = await CliProcess.RunAsync("model", "bench", "--model-dir", Paths.DemoModelDirectory, "--runs", "0");

        Assert.Contains("--model <", help.Stdout);
        Assert.DoesNotContain("--model-dir", help.Stdout);
        foreach (var r in new[] { named, old })
        {
            Assert.True(r.ExitCode == 2, r.ToString());
            Assert.Contains("--runs must be at least 1", r.Stderr);
            Assert.DoesNotContain("Unrecognized", r.Stderr);
        }
    }

    [Fact]
    public async Task A_folder_given_as_a_prompt_file_is_named_a_directory()
    {
        var folder = Path.GetTempPath();
        var submit = await CliProcess.RunAsync("jobs", "submit", "--file", folder, "--url", $"http://127.0.0.1:{ClosedPort()}");
        var enqueue = await CliProcess.RunAsync("jobs", "enqueue", folder);

        foreach (var r in new[] { submit, enqueue })
        {
            Assert.True(r.ExitCode == 2, r.ToString());
            Assert.Contains("is a directory", r.Stderr);
        }
    }

    [Theory]
    [InlineData("jobs submit --prompt x --timeout -5 --wait", "--timeout")]
    [InlineData("jobs wait abc --timeout 0", "--timeout")]
    [InlineData("jobs list --limit 500", "--limit")]
    [InlineData("jobs list --status done", "done")]
    [InlineData("jobs submit --prompt x --param max_new_tokens", "max_new_tokens")]
    public async Task A_bad_option_value_is_a_usage_error_before_any_request(string commandLine, string named)
    {
        // Nothing listens at --url: a request would end in "could not reach the host" and exit 1.
        var r = await CliProcess.RunAsync([.. commandLine.Split(' '), "--url", $"http://127.0.0.1:{ClosedPort()}"]);

        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.StartsWith("error: ", r.Stderr, StringComparison.Ordinal);
        Assert.Contains(named, r.Stderr);
        Assert.DoesNotContain("reach the host", r.Stderr);
    }

    [Fact]
    public async Task Enqueue_checks_every_json_file_parses_before_sending_anything()
    {
        var dir = Directory.CreateTempSubdirectory();
        try
        {
            var good = Path.Combine(dir.FullName, "good.txt");
            var broken = Path.Combine(dir.FullName, "broken.json");
            await File.WriteAllTextAsync(good, "Where is Europa?");
            await File.WriteAllTextAsync(broken, "{\"prompt\": \"x\",");
            // A closed queue port: sending the first file would fail with "could not be reached" (exit 1).
            var connection = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
                $"AccountKey={Convert.ToBase64String(new byte[64])};QueueEndpoint=http://127.0.0.1:{ClosedPort()}/devstoreaccount1;";

            var r = await CliProcess.RunAsync("jobs", "enqueue", good, broken, "--connection", connection);

            Assert.True(r.ExitCode == 2, r.ToString());
            Assert.Contains("broken.json", r.Stderr);
            Assert.Contains("not valid JSON", r.Stderr);
            Assert.Contains("BytePositionInLine", r.Stderr);
            Assert.Equal("", r.Stdout);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Storage_on_a_closed_local_port_names_the_script_that_starts_azurite()
    {
        var connection = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
            $"AccountKey={Convert.ToBase64String(new byte[64])};BlobEndpoint=http://127.0.0.1:{ClosedPort()}/devstoreaccount1;";

        var r = await CliProcess.RunAsync("model", "list", "--connection", connection);

        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Contains("scripts/azurite.sh start", r.Stderr);
        Assert.DoesNotContain("try again later", r.Stderr);
    }
}
