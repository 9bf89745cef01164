using Serverless.EndToEnd.Tests.Infrastructure;
using Serverless.EndToEnd.Tests.Otlp;
using Xunit.Abstractions;

namespace Serverless.EndToEnd.Tests;

/// <summary>
/// OpenTelemetry export end to end, as an operator sets it up: the host is started with the standard
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> / <c>OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf</c> settings pointing at an OTLP/HTTP
/// receiver the test runs (<see cref="OtlpReceiver"/>), a job is submitted over HTTP, and what arrives is decoded from
/// protobuf: one trace from the submit across the queue to the output write, and the pipeline's metrics.
/// </summary>
public abstract class TelemetryExportTests<THost>(THost host, ITestOutputHelper output) where THost : StartedHostFixture
{
    private static readonly TimeSpan ExportTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Text that must never reach telemetry with the default settings (Telemetry__IncludeText unset).</summary>
    private const string PrivateWords = "ultramarine heron";

    [SkippableFact]
    public async Task A_submitted_job_exports_one_trace_from_submit_to_output_write_and_the_pipeline_metrics_over_otlp()
    {
        Skip.If(host.SkipReason is not null, $"{host.Name} host: {host.SkipReason}");
        var otlp = host.Otlp!;
        var id = await host.SubmitAsync(new { prompt = $"Describe the {PrivateWords} in one line.", parameters = new { max_new_tokens = 6 } });
        var job = await host.WaitAsync(id);
        Assert.True(job.GetProperty("status").GetString() == "succeeded", job.GetRawText());
        var outputTokens = job.GetProperty("results")[0].GetProperty("output_tokens").GetInt32();

        // The submit's span names the job. A shared decode batch records its spans when the whole batch ends, which may
        // be after the job's own rows are done and its output written: wait for every span expected, not the last one.
        string[] names = ["jobs.process", "jobs.model.acquire", "jobs.generate", "jobs.batch", "inference.batch", "inference.decode", "jobs.output.write"];
        await otlp.WaitUntilAsync(r => Submit(r, id) is { } submit && names.All(name => r.Spans.Any(s => s.TraceId == submit.TraceId && s.Name == name)),
            ExportTimeout, $"the spans of job {id} ({string.Join(", ", names)}){host.HostLogTail()}");
        var submit = Submit(otlp, id)!;
        var trace = otlp.Spans.Where(s => s.TraceId == submit.TraceId).ToList();
        foreach (var span in trace)
            output.WriteLine($"{span.Scope} {span.Name} span {span.SpanId} parent {span.ParentSpanId} job.id={span.Attribute("job.id")}");

        var process = Assert.Single(trace, s => s.Name == "jobs.process");
        Assert.Equal(submit.SpanId, process.ParentSpanId);
        Assert.Equal(id, process.Attribute("job.id"));
        Assert.Equal("Serverless.Jobs", process.Scope);
        Assert.Equal("1", process.Attribute("job.prompt_count"));
        Assert.Equal("succeeded", process.Attribute("job.status"));
        Assert.Equal(outputTokens.ToString(), process.Attribute("job.output_tokens"));
        Assert.NotEqual(ReceivedSpan.StatusError, process.StatusCode);

        var generate = Assert.Single(trace, s => s.Name == "jobs.generate");
        Assert.Equal(process.SpanId, generate.ParentSpanId);
        var write = Assert.Single(trace, s => s.Name == "jobs.output.write");
        Assert.Equal(process.SpanId, write.ParentSpanId);
        var acquire = Assert.Single(trace, s => s.Name == "jobs.model.acquire");
        Assert.Equal(process.SpanId, acquire.ParentSpanId);
        // The engine's spans of the batch that ran the prompt are in the job's trace: the instance's shared decode batch
        // (jobs.batch, the default Jobs__DynamicBatching) under the job's generate span, the engine's batch under it.
        var shared = Assert.Single(trace, s => s.Name == "jobs.batch");
        Assert.Equal(generate.SpanId, shared.ParentSpanId);
        Assert.Equal("1", shared.Attribute("jobs.batch.jobs"));
        var batch = Assert.Single(trace, s => s.Name == "inference.batch");
        Assert.Equal(shared.SpanId, batch.ParentSpanId);
        Assert.Equal("Serverless.Inference", batch.Scope);
        Assert.Equal(outputTokens.ToString(), batch.Attribute("inference.output_tokens"));
        Assert.Contains(trace, s => s.Name == "inference.decode" && s.ParentSpanId == batch.SpanId);

        // With the default settings no prompt or completion text is exported.
        var completion = job.GetProperty("results")[0].GetProperty("completion").GetString()!;
        foreach (var span in otlp.Spans)
        {
            foreach (var (key, value) in span.Attributes)
            {
                Assert.False(value.Contains(PrivateWords, StringComparison.Ordinal), $"{span.Name} attribute {key} carries prompt text: {value}");
                if (completion.Trim().Length >= 8)
                    Assert.False(value.Contains(completion.Trim(), StringComparison.Ordinal), $"{span.Name} attribute {key} carries the completion: {value}");
            }
        }

        // Metrics: the periodic reader exports cumulative points every second.
        string[] expected = ["jobs.queue.wait", "jobs.duration", "jobs.completed", "inference.tokens.generated", "inference.time_to_first_token",
            "inference.batch.rows", "model.load.duration"];
        await otlp.WaitUntilAsync(r => expected.All(name => r.Metrics.Any(m => m.Name == name && m.Points.Count > 0)),
            ExportTimeout, $"the metrics {string.Join(", ", expected)}{host.HostLogTail()}");
        var metrics = otlp.Metrics;
        var queueWait = Latest(metrics, "jobs.queue.wait");
        Assert.Equal(("histogram", "s"), (queueWait.Kind, queueWait.Unit));
        Assert.True(queueWait.Points.Sum(p => (long)p.Count) >= 1, "jobs.queue.wait has no recorded value");
        var tokens = Latest(metrics, "inference.tokens.generated");
        Assert.Equal(("sum", "{token}"), (tokens.Kind, tokens.Unit));
        Assert.All(tokens.Points, p => Assert.True(p.Attributes.ContainsKey("finish_reason")));
        Assert.True(tokens.Points.Sum(p => p.Value) >= outputTokens, $"inference.tokens.generated totals {tokens.Points.Sum(p => p.Value)}, the job generated {outputTokens}");
        var completed = Latest(metrics, "jobs.completed");
        Assert.Contains(completed.Points, p => p.Attributes.GetValueOrDefault("job.status") == "succeeded" && p.Value >= 1);
        Assert.Empty(otlp.Errors);
    }

    private static ReceivedSpan? Submit(OtlpReceiver receiver, string id) =>
        receiver.Spans.FirstOrDefault(s => s.Name == "jobs.submit" && s.Attribute("job.id") == id);

    /// <summary>The last export of a metric (cumulative temporality: it holds everything recorded so far).</summary>
    private static ReceivedMetric Latest(IReadOnlyList<ReceivedMetric> metrics, string name) => metrics.Last(m => m.Name == name);
}
