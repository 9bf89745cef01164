using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Serverless.Jobs.Telemetry;

/// <summary>
/// The job pipeline's traces and metrics (source and meter <c>Serverless.Jobs</c>). A job's trace starts at the submit
/// and continues in the worker: the submit writes its W3C <c>traceparent</c> into the queue message, the worker starts
/// <c>jobs.process</c> under it (a hand-dropped message without one starts its own trace).
/// </summary>
public static class JobsTelemetry
{
    public const string Name = "Serverless.Jobs";

    /// <summary>The queue message field carrying the submit's trace context.</summary>
    public const string TraceParentField = "traceparent";

    public static readonly ActivitySource Source = new(Name, typeof(JobsTelemetry).Assembly.GetName().Version?.ToString());
    public static readonly Meter Meter = new(Name, typeof(JobsTelemetry).Assembly.GetName().Version?.ToString());

    public static readonly Histogram<double> QueueWait = Meter.CreateHistogram<double>(
        "jobs.queue.wait", "s", "From a job's creation (submit or first delivery) to the start of its first attempt.");
    public static readonly Histogram<double> Duration = Meter.CreateHistogram<double>(
        "jobs.duration", "s", "One attempt of a job in the worker: model acquire, generation and output write.");
    public static readonly Counter<long> Completed = Meter.CreateCounter<long>(
        "jobs.completed", "{job}", "Jobs reaching a final state, by status and error code.");
    public static readonly Counter<long> Retries = Meter.CreateCounter<long>(
        "jobs.retries", "{attempt}", "Failed attempts handed back to the queue for another delivery, by error code.");
    public static readonly Counter<long> PoisonHandled = Meter.CreateCounter<long>(
        "jobs.poison_handled", "{job}", "Jobs closed by the poison-queue handler after their deliveries ran out.");

    internal static KeyValuePair<string, object?> Status(JobStatus status) => new("job.status", status.ToString().ToLowerInvariant());
    internal static KeyValuePair<string, object?> ErrorCode(string? code) => new("error.code", code ?? "");

    /// <summary>Records a final state: the counter and, on the current span, the status and error code.</summary>
    internal static void RecordCompleted(Activity? activity, JobStatus status, JobError? error)
    {
        Completed.Add(1, Status(status), ErrorCode(error?.Code));
        if (activity is null) return;
        activity.SetTag("job.status", Status(status).Value);
        if (error is not null)
        {
            activity.SetTag("error.code", error.Code);
            activity.SetStatus(ActivityStatusCode.Error, error.Code);
        }
    }

    /// <summary>The parent context of a queue message's <c>traceparent</c>, or default (a new trace) when it has none
    /// or it is malformed: a bad header must never fail a job.</summary>
    internal static ActivityContext ParentOf(string? traceParent) =>
        traceParent is not null && ActivityContext.TryParse(traceParent, null, out var context) ? context : default;
}
