using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Serverless.Jobs.Tests.Infrastructure;

/// <summary>A real HTTP endpoint on 127.0.0.1 (<see cref="HttpListener"/>) that records every request it gets and
/// answers each with <paramref name="status"/>.</summary>
internal sealed class CallbackReceiver : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly int _status;
    private readonly Task _loop;

    public CallbackReceiver(int status = 200)
    {
        _status = status;
        var port = FreePort();
        Url = $"http://127.0.0.1:{port}/hook?token=receiver-own-token";
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public string Url { get; }

    public ConcurrentQueue<Received> Requests { get; } = new();

    internal sealed record Received(string Method, string? PathAndQuery, IReadOnlyDictionary<string, string> Headers, byte[] Body)
    {
        public string Text => Encoding.UTF8.GetString(Body);
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
            {
                return;
            }
            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            var headers = context.Request.Headers.AllKeys.Where(k => k is not null).ToDictionary(k => k!, k => context.Request.Headers[k]!, StringComparer.OrdinalIgnoreCase);
            Requests.Enqueue(new Received(context.Request.HttpMethod, context.Request.Url?.PathAndQuery, headers, body.ToArray()));
            context.Response.StatusCode = _status;
            context.Response.Close();
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _ = _loop;
    }
}
