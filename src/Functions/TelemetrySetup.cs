using Azure.Core;
using Azure.Monitor.OpenTelemetry.Exporter;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Serverless.Inference.Telemetry;
using Serverless.Jobs.Telemetry;
using Serverless.ModelStore.Telemetry;

namespace Serverless.Functions;

/// <summary>
/// OpenTelemetry for both hosts: the pipeline's sources and meters (<see cref="SourceNames"/>), ASP.NET Core and HTTP
/// client instrumentation, and exporters chosen by configuration only: Azure Monitor when
/// <c>APPLICATIONINSIGHTS_CONNECTION_STRING</c> is set, OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set, the console
/// when asked (local host), none otherwise (the sources then record nothing: no listener subscribes).
/// </summary>
public static class TelemetrySetup
{
    public const string OtlpEndpointSetting = "OTEL_EXPORTER_OTLP_ENDPOINT";

    public static readonly string[] SourceNames = [JobsTelemetry.Name, InferenceTelemetry.Name, ModelStoreTelemetry.Name];

    /// <summary>Which exporters the configuration turns on.</summary>
    public sealed record Exporters(string? AzureMonitorConnectionString, bool Otlp, bool Console)
    {
        public bool Any => AzureMonitorConnectionString is not null || Otlp || Console;

        public override string ToString() => Any
            ? string.Join(", ", new[] { AzureMonitorConnectionString is null ? null : "Azure Monitor", Otlp ? "OTLP" : null, Console ? "console" : null }.OfType<string>())
            : "none";
    }

    public static Exporters Read(IConfiguration configuration, bool console = false) => new(
        ApplicationInsightsSettings.ConnectionString(configuration),
        configuration[OtlpEndpointSetting] is { Length: > 0 },
        console);

    /// <returns>The builder (the Functions worker adds its own defaults to it), or null when no exporter is configured.</returns>
    public static OpenTelemetryBuilder? AddPipelineTelemetry(this IServiceCollection services, Exporters exporters, TokenCredential? credential)
    {
        if (!exporters.Any) return null;
        var builder = services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("serverless-prompt-pipeline"))
            .WithTracing(t =>
            {
                t.AddSource(SourceNames).AddAspNetCoreInstrumentation().AddHttpClientInstrumentation();
                if (exporters.Otlp) t.AddOtlpExporter();
                if (exporters.Console) t.AddConsoleExporter();
            })
            .WithMetrics(m =>
            {
                m.AddMeter(SourceNames).AddAspNetCoreInstrumentation().AddHttpClientInstrumentation();
                if (exporters.Otlp) m.AddOtlpExporter();
                if (exporters.Console) m.AddConsoleExporter();
            })
            .WithLogging(l =>
            {
                if (exporters.Otlp) l.AddOtlpExporter();
            });
        if (exporters.AzureMonitorConnectionString is { } connectionString)
        {
            builder.UseAzureMonitorExporter(o =>
            {
                o.ConnectionString = connectionString;
                // The resource accepts Entra ID tokens only (infra disables local auth): the managed identity it grants.
                if (credential is not null) o.Credential = credential;
            });
        }
        return builder;
    }
}
