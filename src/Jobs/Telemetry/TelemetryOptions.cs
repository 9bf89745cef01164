namespace Serverless.Jobs.Telemetry;

/// <summary><c>Telemetry__*</c>: what the pipeline's telemetry may carry.</summary>
public sealed class TelemetryOptions
{
    /// <summary><c>Telemetry__IncludeText</c> (default false): prompts and completions go into telemetry only when true —
    /// <c>job.prompts</c> / <c>job.completions</c> on <c>jobs.generate</c> spans and the text an error message quotes in
    /// log lines. Prompts may be private; off, telemetry carries counts, timings, codes and ids only.</summary>
    public bool IncludeText { get; set; }
}
