using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Serverless.Functions.Tests.Infrastructure;

/// <summary>
/// An Azurite of a test's own, on free ports and with on-disk persistence (so data survives a stop/start), for tests
/// that stop storage. It never touches the shared Azurite on 10000-10002.
/// </summary>
public sealed class AzuriteProcess : IAsyncDisposable
{
    private const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private readonly string _location = Path.Combine(Path.GetTempPath(), "serverless-azurite-" + Guid.NewGuid().ToString("N"));
    private Process? _process;

    public int BlobPort { get; } = FreePort();
    public int QueuePort { get; } = FreePort();
    public int TablePort { get; } = FreePort();

    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AccountKey};" +
        $"BlobEndpoint=http://127.0.0.1:{BlobPort}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{QueuePort}/devstoreaccount1;" +
        $"TableEndpoint=http://127.0.0.1:{TablePort}/devstoreaccount1;";

    public async Task StartAsync()
    {
        var executable = Path.Combine(Paths.RepositoryRoot, "tools", "azurite", "node_modules", ".bin", "azurite");
        Assert.True(File.Exists(executable), $"Azurite is not installed at {executable}: run `scripts/azurite.sh install`.");
        Directory.CreateDirectory(_location);
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[]
                 {
                     "--skipApiVersionCheck", "--loose", "--location", _location,
                     "--blobHost", "127.0.0.1", "--blobPort", BlobPort.ToString(),
                     "--queueHost", "127.0.0.1", "--queuePort", QueuePort.ToString(),
                     "--tableHost", "127.0.0.1", "--tablePort", TablePort.ToString(),
                 })
        {
            start.ArgumentList.Add(a);
        }

        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!(PortOpen(BlobPort) && PortOpen(QueuePort)))
        {
            if (_process.HasExited) throw new InvalidOperationException($"Azurite exited with code {_process.ExitCode} on start.");
            if (DateTime.UtcNow > deadline) throw new TimeoutException("Azurite did not open its ports within 30 s.");
            await Task.Delay(100);
        }
    }

    /// <summary>TERM (Azurite saves its database on the way out), then KILL if it lingers; waits for the ports to close.</summary>
    public async Task StopAsync()
    {
        if (_process is null) return;
        if (!_process.HasExited)
        {
            using (var term = Process.Start("kill", ["-TERM", _process.Id.ToString()])) await term!.WaitForExitAsync();
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try { await _process.WaitForExitAsync(wait.Token); }
            catch (OperationCanceledException) { _process.Kill(entireProcessTree: true); await _process.WaitForExitAsync(); }
        }
        _process.Dispose();
        _process = null;
        while (PortOpen(BlobPort) || PortOpen(QueuePort)) await Task.Delay(100);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try { Directory.Delete(_location, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static bool PortOpen(int port)
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
