using Serverless.EndToEnd.Tests.Otlp.Proto;

namespace Serverless.EndToEnd.Tests.Otlp;

/// <summary>A span as an OTLP exporter sent it: ids as lower-case hex (empty parent = a root span), attributes as text.</summary>
public sealed record ReceivedSpan(string Scope, string Name, string TraceId, string SpanId, string ParentSpanId,
    IReadOnlyDictionary<string, string> Attributes, int StatusCode, string StatusMessage)
{
    /// <summary>OTLP's <c>STATUS_CODE_ERROR</c>.</summary>
    public const int StatusError = 2;

    public string? Attribute(string key) => Attributes.GetValueOrDefault(key);

    internal static ReceivedSpan From(string scope, Span span) => new(
        scope,
        span.Name,
        Convert.ToHexStringLower(span.TraceId.Span),
        Convert.ToHexStringLower(span.SpanId.Span),
        Convert.ToHexStringLower(span.ParentSpanId.Span),
        OtlpValues.ToDictionary(span.Attributes),
        span.Status?.Code ?? 0,
        span.Status?.Message ?? "");
}
