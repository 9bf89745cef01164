using System.Net;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Serverless.EndToEnd.Tests.Otlp.Proto;

namespace Serverless.EndToEnd.Tests.Otlp;

/// <summary>
/// An OTLP/HTTP receiver (what a collector listens on at :4318) on a free loopback port: <c>POST /v1/traces</c> and
/// <c>POST /v1/metrics</c> with protobuf bodies, decoded and kept; <c>/v1/logs</c> is accepted and dropped. A host
/// pointed at <see cref="Endpoint"/> with <c>OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf</c> exports here.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<ReceivedSpan> _spans = [];
    private readonly List<ReceivedMetric> _metrics = [];
    private readonly List<string> _errors = [];

    private OtlpReceiver(WebApplication app) => _app = app;

    /// <summary>The base endpoint (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c>); exporters add <c>/v1/traces</c> and <c>/v1/metrics</c>.</summary>
    public Uri Endpoint { get; private set; } = null!;

    /// <summary>Export requests received per path, e.g. <c>/v1/traces</c> (for failure messages).</summary>
    public Dictionary<string, int> Requests { get; } = [];

    /// <summary>Bodies that did not decode, with the reason (an empty list is part of what the tests assert).</summary>
    public IReadOnlyList<string> Errors
    {
        get { lock (_errors) return [.. _errors]; }
    }

    public IReadOnlyList<ReceivedSpan> Spans
    {
        get { lock (_spans) return [.. _spans]; }
    }

    public IReadOnlyList<ReceivedMetric> Metrics
    {
        get { lock (_metrics) return [.. _metrics]; }
    }

    public static async Task<OtlpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new OtlpReceiver(app);
        app.MapPost("/v1/traces", (HttpContext context) => receiver.ReceiveAsync(context, ExportTraceServiceRequest.Parser, receiver.Add));
        app.MapPost("/v1/metrics", (HttpContext context) => receiver.ReceiveAsync(context, ExportMetricsServiceRequest.Parser, receiver.Add));
        app.MapPost("/v1/logs", (HttpContext context) => receiver.ReceiveAsync<ExportTraceServiceRequest>(context, null, null));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        receiver.Endpoint = new Uri(address);
        return receiver;
    }

    /// <summary>Waits until <paramref name="done"/> holds over what was received, or fails after <paramref name="timeout"/>
    /// saying what did arrive.</summary>
    public async Task WaitUntilAsync(Func<OtlpReceiver, bool> done, TimeSpan timeout, string what)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (!done(this))
        {
            if (cts.IsCancellationRequested)
            {
                string requests;
                lock (Requests) requests = string.Join(", ", Requests.Select(r => $"{r.Key}: {r.Value}"));
                throw new TimeoutException($"The OTLP receiver did not get {what} within {timeout.TotalSeconds} s. Requests: {(requests.Length == 0 ? "none" : requests)}; " +
                    $"span names: {string.Join(", ", Spans.Select(s => s.Name).Distinct())}; metrics: {string.Join(", ", Metrics.Select(m => m.Name).Distinct())}; " +
                    $"decode errors: {string.Join("; ", Errors)}");
            }
            await Task.Delay(200, CancellationToken.None);
        }
    }

    private async Task ReceiveAsync<T>(HttpContext context, MessageParser<T>? parser, Action<T>? add) where T : IMessage<T>
    {
        lock (Requests) Requests[context.Request.Path] = Requests.GetValueOrDefault(context.Request.Path) + 1;
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, context.RequestAborted);
        if (parser is not null && add is not null)
        {
            if (context.Request.ContentType?.StartsWith("application/x-protobuf", StringComparison.OrdinalIgnoreCase) != true)
            {
                lock (_errors) _errors.Add($"{context.Request.Path}: content type {context.Request.ContentType}, not application/x-protobuf");
                context.Response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
                return;
            }
            try
            {
                add(parser.ParseFrom(body.ToArray()));
            }
            catch (InvalidProtocolBufferException e)
            {
                lock (_errors) _errors.Add($"{context.Request.Path}: {e.Message}");
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                return;
            }
        }
        // An empty Export*ServiceResponse: full success.
        context.Response.ContentType = "application/x-protobuf";
        context.Response.StatusCode = StatusCodes.Status200OK;
    }

    private void Add(ExportTraceServiceRequest request)
    {
        var spans = request.ResourceSpans.SelectMany(r => r.ScopeSpans.SelectMany(s => s.Spans.Select(span => ReceivedSpan.From(s.Scope?.Name ?? "", span))));
        lock (_spans) _spans.AddRange(spans);
    }

    private void Add(ExportMetricsServiceRequest request)
    {
        var metrics = request.ResourceMetrics.SelectMany(r => r.ScopeMetrics.SelectMany(s => s.Metrics.Select(m => ReceivedMetric.From(s.Scope?.Name ?? "", m))));
        lock (_metrics) _metrics.AddRange(metrics);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
