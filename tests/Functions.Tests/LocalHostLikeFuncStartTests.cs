using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Serverless.Functions.Tests.Infrastructure;
using Serverless.Jobs;
using Serverless.LocalHost;

namespace Serverless.Functions.Tests;

/// <summary>A local host with a callback secret, so that a job may name a <c>callback_url</c>.</summary>
public sealed class CallbackSecretHostFixture : LocalHostFixture
{
    protected override IEnumerable<string> Settings => ["Callbacks:Secret=local-host-test-secret"];
}

/// <summary>
/// The local host behaves as <c>func start</c> (Core Tools over the Functions host) where a user can see it: it runs as
/// Development, answers <c>/</c> with a page saying it is up, and <c>--help</c> prints its options instead of listening
/// (issue 23, item 13).
/// </summary>
public sealed class LocalHostLikeFuncStartTests(CallbackSecretHostFixture host) : IClassFixture<CallbackSecretHostFixture>
{
    [Fact]
    public async Task It_runs_as_development_unless_the_functions_environment_says_otherwise()
    {
        await using (var plain = LocalHostApp.Create(["--urls=http://127.0.0.1:0"]))
        {
            Assert.True(plain.Environment.IsDevelopment(), plain.Environment.EnvironmentName);
            Assert.True(plain.Services.GetRequiredService<PromptJobsOptions>().Callbacks.Development);
        }

        await using var production = LocalHostApp.Create(["--urls=http://127.0.0.1:0", "--AZURE_FUNCTIONS_ENVIRONMENT=Production"]);
        Assert.Equal("Production", production.Environment.EnvironmentName);
        Assert.False(production.Services.GetRequiredService<PromptJobsOptions>().Callbacks.Development);
    }

    [Fact]
    public async Task A_callback_url_on_this_machine_is_accepted_as_under_func_start()
    {
        // Production refuses it (https to public addresses only); Core Tools run the host as Development, which allows it.
        var id = await host.SubmitAsync(new { prompt = "Where is Io?", parameters = new { max_new_tokens = 2 }, callback_url = "http://127.0.0.1:9/hook" });

        Assert.False(string.IsNullOrEmpty(id));
    }

    [Fact]
    public async Task The_root_answers_with_a_page_saying_the_host_is_up()
    {
        using var response = await host.Http.GetAsync("/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("up and running", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_prints_the_options_and_exits_without_listening()
    {
        var port = FreePort();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "Serverless.LocalHost.dll"), "--help", "--urls", $"http://127.0.0.1:{port}" })
            start.ArgumentList.Add(a);
        start.Environment["AzureWebJobsStorage"] = Storage.ConnectionString;

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            var listening = IsListening(port);
            process.Kill(entireProcessTree: true);
            Assert.Fail($"The local host did not exit within 60 s of --help (listening on {port}: {listening}).");
        }

        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}\n{await stdout}\n{await stderr}");
        var usage = await stdout;
        Assert.Contains("Usage:", usage, StringComparison.Ordinal);
        Assert.Contains("--urls", usage, StringComparison.Ordinal);
        Assert.Contains("AZURE_FUNCTIONS_ENVIRONMENT", usage, StringComparison.Ordinal);
        Assert.False(IsListening(port));
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static bool IsListening(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
