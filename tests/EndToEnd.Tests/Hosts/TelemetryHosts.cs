using Serverless.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Serverless.EndToEnd.Tests.Hosts;

/// <summary>The local host process exporting over OTLP to the test's receiver.</summary>
public sealed class LocalHostTelemetryFixture : LocalHostFixture
{
    protected override bool ExportTelemetry => true;
}

/// <summary>The real Functions host exporting over OTLP: the <c>OTEL_*</c> app settings reach the isolated worker as
/// environment variables, as on Azure.</summary>
public sealed class FunctionsHostTelemetryFixture : FunctionsHostFixture
{
    protected override bool ExportTelemetry => true;
}

public sealed class LocalHostTelemetryExportTests(LocalHostTelemetryFixture host, ITestOutputHelper output)
    : TelemetryExportTests<LocalHostTelemetryFixture>(host, output), IClassFixture<LocalHostTelemetryFixture>;

public sealed class FunctionsHostTelemetryExportTests(FunctionsHostTelemetryFixture host, ITestOutputHelper output)
    : TelemetryExportTests<FunctionsHostTelemetryFixture>(host, output), IClassFixture<FunctionsHostTelemetryFixture>;
