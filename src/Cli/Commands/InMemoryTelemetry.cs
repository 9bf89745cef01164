using System.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Serverless.Inference.Telemetry;

namespace Serverless.Cli.Commands;

/// <summary>The engine's traces and metrics collected in memory (an in-process collector), for measuring what telemetry
/// costs the decode loop (<c>bench --telemetry</c>).</summary>
internal sealed class InMemoryTelemetry : IDisposable
{
    private readonly List<Activity> _spans = [];
    private readonly List<Metric> _metrics = [];
    private readonly TracerProvider _tracing;
    private readonly MeterProvider _meters;
    private readonly bool _quiet;

    /// <param name="quiet">Do not print what was collected on dispose.</param>
    public InMemoryTelemetry(bool quiet = false)
    {
        _quiet = quiet;
        _tracing = Sdk.CreateTracerProviderBuilder().AddSource(InferenceTelemetry.Name).AddInMemoryExporter(_spans).Build()!;
        _meters = Sdk.CreateMeterProviderBuilder().AddMeter(InferenceTelemetry.Name).AddInMemoryExporter(_metrics).Build()!;
    }

    /// <summary>Spans exported so far (the batch processor of the in-memory exporter exports each span as it ends).</summary>
    public int SpanCount => _spans.Count;

    public void Dispose()
    {
        _tracing.Dispose();
        _meters.Dispose();
        if (!_quiet) Console.Error.WriteLine($"telemetry: {_spans.Count} spans and {_metrics.Count} metric streams collected in memory");
    }
}
