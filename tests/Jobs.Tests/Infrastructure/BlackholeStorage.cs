using System.Net;
using System.Net.Sockets;

namespace Serverless.Jobs.Tests.Infrastructure;

/// <summary>
/// Storage that never answers: a loopback listener that accepts connections and holds them open without reading or
/// replying, so every storage try runs into its network timeout. <see cref="ConnectionString"/> points blobs and queues at it.
/// </summary>
public sealed class BlackholeStorage : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly List<TcpClient> _accepted = [];
    private readonly CancellationTokenSource _stop = new();

    public BlackholeStorage()
    {
        _listener.Start();
        _ = AcceptForeverAsync();
    }

    /// <summary>A development-account connection string whose blob and queue endpoints are this listener.</summary>
    public string ConnectionString
    {
        get
        {
            var port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            return "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
                   "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
                   $"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{port}/devstoreaccount1";
        }
    }

    private async Task AcceptForeverAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                lock (_accepted) _accepted.Add(client); // held open, never read from or answered
            }
        }
        catch (OperationCanceledException) { }
        catch (SocketException) { }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_accepted) foreach (var c in _accepted) c.Dispose();
        _stop.Dispose();
    }
}
