using Serverless.EndToEnd.Tests.Otlp.Proto;

namespace Serverless.EndToEnd.Tests.Otlp;

/// <summary>One metric of one export: its points' attributes and values (a histogram point's value is its count).</summary>
public sealed record ReceivedMetric(string Scope, string Name, string Unit, string Kind, IReadOnlyList<ReceivedPoint> Points)
{
    internal static ReceivedMetric From(string scope, Metric metric) => metric.DataCase switch
    {
        Metric.DataOneofCase.Histogram => new(scope, metric.Name, metric.Unit, "histogram",
            [.. metric.Histogram.DataPoints.Select(p => new ReceivedPoint(OtlpValues.ToDictionary(p.Attributes), p.Count, p.Sum))]),
        Metric.DataOneofCase.Sum => new(scope, metric.Name, metric.Unit, "sum",
            [.. metric.Sum.DataPoints.Select(p => new ReceivedPoint(OtlpValues.ToDictionary(p.Attributes), 0, p.AsInt != 0 ? p.AsInt : p.AsDouble))]),
        Metric.DataOneofCase.Gauge => new(scope, metric.Name, metric.Unit, "gauge",
            [.. metric.Gauge.DataPoints.Select(p => new ReceivedPoint(OtlpValues.ToDictionary(p.Attributes), 0, p.AsInt != 0 ? p.AsInt : p.AsDouble))]),
        _ => new(scope, metric.Name, metric.Unit, metric.DataCase.ToString(), []),
    };
}

/// <summary>A data point: its attributes, its count (histograms) and its value (sums, gauges) or sum (histograms).</summary>
public sealed record ReceivedPoint(IReadOnlyDictionary<string, string> Attributes, ulong Count, double Value);
