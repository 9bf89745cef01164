using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Serverless.Inference.Telemetry;
using Serverless.Jobs.Telemetry;
using Serverless.Jobs.Tests.Infrastructure;
using Serverless.ModelStore;
using Serverless.ModelStore.Telemetry;

namespace Serverless.Jobs.Tests;

/// <summary>Traces and metrics through the OpenTelemetry SDK's in-memory exporter. The sources are process-wide and
/// tests run in parallel, so every assertion picks this test's spans by trace id or job id.</summary>
public sealed class TelemetryTests : IDisposable
{
    private static readonly string[] Sources = [JobsTelemetry.Name, InferenceTelemetry.Name, ModelStoreTelemetry.Name];

    private readonly List<Activity> _spans = [];
    private readonly List<MetricSnapshot> _metrics = [];
    private readonly TracerProvider _tracing;
    private readonly MeterProvider _meters;

    public TelemetryTests()
    {
        _tracing = Sdk.CreateTracerProviderBuilder().AddSource(Sources).AddInMemoryExporter(_spans).Build()!;
        _meters = Sdk.CreateMeterProviderBuilder().AddMeter(Sources).AddInMemoryExporter(_metrics).Build()!;
    }

    public void Dispose()
    {
        _tracing.Dispose();
        _meters.Dispose();
    }

    [Fact]
    public async Task Submitted_job_is_one_trace_from_submit_to_output_write_with_counts_and_no_prompt_text()
    {
        var logs = new CapturingLoggerProvider();
        await using var host = await JobsTestHost.CreateAsync(withModel: true, services: s => s.AddLogging(b => b.AddProvider(logs)));
        const string prompt = "Translate to German: the secret garden behind the house";
        var submit = await host.SubmitAsync(JsonSerializer.Serialize(new { prompts = new[] { prompt, prompt + " again" }, parameters = new { max_new_tokens = 4 } }));
        Assert.Equal(202, submit.Status);
        var id = submit.Body.GetProperty("id").GetString()!;
        Assert.Contains("\"traceparent\"", (await host.PeekAllAsync())[0].MessageText);

        await host.ProcessNextAsync();
        Assert.Equal("succeeded", (await host.GetAsync(id)).Body.GetProperty("status").GetString());
        _tracing.ForceFlush();
        await WaitForEngineSpansAsync(id);

        var submitSpan = Assert.Single(Spans(), s => s.OperationName == "jobs.submit" && Tag(s, "job.id") == id);
        var trace = Spans().Where(s => s.TraceId == submitSpan.TraceId).ToList();
        var process = Assert.Single(trace, s => s.OperationName == "jobs.process");
        Assert.Equal(submitSpan.SpanId, process.ParentSpanId);
        foreach (var name in new[] { "jobs.model.acquire", "model.load", "jobs.generate", "inference.batch", "inference.encode", "inference.decode", "jobs.output.write" })
            Assert.Contains(trace, s => s.OperationName == name);

        Assert.Equal(id, Tag(process, "job.id"));
        Assert.Equal("2", Tag(process, "job.prompt_count"));
        Assert.Equal("succeeded", Tag(process, "job.status"));
        Assert.True(int.Parse(Tag(process, "job.input_tokens")!) > 0);
        Assert.InRange(int.Parse(Tag(process, "job.output_tokens")!), 2, 8);
        Assert.Matches("^(eos|length)(,(eos|length))?$", Tag(process, "job.finish_reasons")!);
        Assert.Equal(ActivityStatusCode.Unset, process.Status);

        foreach (var span in trace)
        {
            foreach (var tag in span.TagObjects)
                Assert.DoesNotContain("secret garden", tag.Value?.ToString() ?? "", StringComparison.Ordinal);
        }

        Assert.NotEmpty(logs.Entries);
        Assert.DoesNotContain(logs.Entries, e => e.Message.Contains("secret garden", StringComparison.Ordinal)
            || e.Values.Values.Any(v => v?.ToString()?.Contains("secret garden", StringComparison.Ordinal) == true));

        _meters.ForceFlush();
        AssertRecorded("jobs.queue.wait", "s");
        AssertRecorded("jobs.duration", "s");
        AssertRecorded("jobs.completed", "{job}", ("job.status", "succeeded"), ("error.code", ""));
        AssertRecorded("inference.time_to_first_token", "s");
        AssertRecorded("inference.tokens.generated", "{token}", ("finish_reason", null));
        AssertRecorded("inference.batch.tokens_per_second", "{token}/s");
        AssertRecorded("inference.batch.rows", "{row}");
        AssertRecorded("inference.context_window.use", "1");
        AssertRecorded("model.load.duration", "s", ("model.version", null));
        AssertRecorded("model.download.duration", "s", ("model.version", null));
        AssertRecorded("model.download.bytes", "By", ("model.version", null));
    }

    [Fact]
    public async Task Failed_job_span_has_error_status_and_code_and_a_hand_dropped_message_starts_its_own_trace()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var message = await host.DropAndReceiveAsync("""{"prompt": "hello", "parameters": {"max_new_tokens": -3}}""");

        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, message.DequeueCount, CancellationToken.None);
        _tracing.ForceFlush();

        var process = Assert.Single(Spans(), s => s.OperationName == "jobs.process" && Tag(s, "job.id") == message.MessageId);
        Assert.Equal(default, process.ParentSpanId);
        Assert.Equal(ActivityStatusCode.Error, process.Status);
        Assert.Equal("invalid_parameters", process.StatusDescription);
        Assert.Equal("invalid_parameters", Tag(process, "error.code"));
        Assert.Equal("failed", Tag(process, "job.status"));

        _meters.ForceFlush();
        AssertRecorded("jobs.completed", "{job}", ("job.status", "failed"), ("error.code", "invalid_parameters"));
    }

    [Theory]
    [InlineData("not-a-trace-context")]
    [InlineData("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    public async Task A_message_traceparent_is_continued_when_valid_and_a_malformed_one_neither_fails_the_job_nor_joins_a_trace(string traceParent)
    {
        await using var host = await JobsTestHost.CreateAsync();
        var message = await host.DropAndReceiveAsync(JsonSerializer.Serialize(new { prompt = "hello", parameters = new { max_new_tokens = -3 }, traceparent = traceParent }));

        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, message.DequeueCount, CancellationToken.None);
        _tracing.ForceFlush();

        // The spec was read (the failure is its parameters, not an unknown field or a bad message).
        Assert.Equal("invalid_parameters", (await host.RecordAsync(message.MessageId)).Error!.Code);
        var process = Assert.Single(Spans(), s => s.OperationName == "jobs.process" && Tag(s, "job.id") == message.MessageId);
        if (ActivityContext.TryParse(traceParent, null, out var parent))
        {
            Assert.Equal(parent.TraceId, process.TraceId);
            Assert.Equal(parent.SpanId, process.ParentSpanId);
        }
        else
        {
            Assert.Equal(default, process.ParentSpanId);
        }
    }

    [Fact]
    public async Task An_HTTP_body_may_not_carry_a_traceparent_field()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var reply = await host.SubmitAsync("""{"prompt": "hello", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}""");
        Assert.Equal(400, reply.Status);
        Assert.True(reply.Body.GetProperty("errors").TryGetProperty("traceparent", out _));
    }

    [Fact]
    public async Task Transient_failure_counts_a_retry_and_the_poison_handler_counts_the_job()
    {
        await using var host = await JobsTestHost.CreateAsync(); // the model container does not exist
        const string text = "Summarize: telemetry of a model that is not there.";
        var message = await host.DropAndReceiveAsync(text);
        await Assert.ThrowsAsync<ModelContainerNotFoundException>(() => host.Worker.ProcessAsync(message.MessageText, message.MessageId, 1, CancellationToken.None));
        await host.Poison.HandleAsync(text, Guid.NewGuid().ToString(), CancellationToken.None);
        _tracing.ForceFlush();

        var process = Assert.Single(Spans(), s => s.OperationName == "jobs.process" && Tag(s, "job.id") == message.MessageId);
        Assert.Equal(ActivityStatusCode.Error, process.Status);
        Assert.Equal("model_unavailable", Tag(process, "error.code"));
        Assert.Contains(Spans(), s => s.OperationName == "jobs.poison" && Tag(s, "error.code") == "model_unavailable");

        _meters.ForceFlush();
        AssertRecorded("jobs.retries", "{attempt}", ("error.code", "model_unavailable"));
        AssertRecorded("jobs.poison_handled", "{job}", ("error.code", "model_unavailable"));
        AssertRecorded("jobs.completed", "{job}", ("job.status", "failed"), ("error.code", "model_unavailable"));
    }

    [Fact]
    public async Task Each_job_sharing_the_instance_decode_batches_gets_the_engine_spans_in_its_own_trace()
    {
        var logs = new CapturingLoggerProvider();
        await using var host = await JobsTestHost.CreateAsync(withModel: true, services: s => s.AddLogging(b => b.AddProvider(logs)));
        var ids = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            // One after the other: the batcher's loop starts with the first job and serves the second later.
            var submit = await host.SubmitAsync(JsonSerializer.Serialize(new { prompt = $"Job {i} of two", parameters = new { max_new_tokens = 3 } }));
            ids.Add(submit.Body.GetProperty("id").GetString()!);
            await host.ProcessNextAsync();
            Assert.Equal("succeeded", (await host.GetAsync(ids[^1])).Body.GetProperty("status").GetString());
        }
        _tracing.ForceFlush();

        foreach (var id in ids)
        {
            await WaitForEngineSpansAsync(id);
            var process = Assert.Single(Spans(), s => s.OperationName == "jobs.process" && Tag(s, "job.id") == id);
            var generate = Assert.Single(Spans(), s => s.OperationName == "jobs.generate" && s.ParentSpanId == process.SpanId);
            var trace = Spans().Where(s => s.TraceId == process.TraceId).ToList();
            var batch = Assert.Single(trace, s => s.OperationName == "inference.batch");
            Assert.True(IsUnder(batch, generate, trace), $"inference.batch of job {id} is not under its jobs.generate span");
        }
        // The loop's log lines carry no job's scope: it serves every job.
        var decodeBatches = logs.Entries.Where(e => e.Message.StartsWith("Decode batch", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(decodeBatches);
        Assert.All(decodeBatches, e => Assert.False(e.Scopes.ContainsKey("JobId"), $"'{e.Message}' carries job {e.Scopes.GetValueOrDefault("JobId")}'s scope"));
    }

    /// <summary>
    /// A shared decode batch records its spans (inference.batch) when the whole batch has ended, which may be just after
    /// its jobs' rows are done and their records say succeeded: waits (10 s at most) until the job's trace has them.
    /// </summary>
    private async Task WaitForEngineSpansAsync(string id)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            var spans = Spans();
            if (spans.FirstOrDefault(s => s.OperationName == "jobs.process" && Tag(s, "job.id") == id) is { } process
                && spans.Any(s => s.TraceId == process.TraceId && s.OperationName == "inference.batch"))
            {
                return;
            }
            await Task.Delay(20);
        }
    }

    private static bool IsUnder(Activity span, Activity ancestor, List<Activity> trace)
    {
        for (var current = span; current is not null; current = trace.FirstOrDefault(s => s.SpanId == current.ParentSpanId))
            if (current.ParentSpanId == ancestor.SpanId) return true;
        return false;
    }

    /// <summary>"Secret garden plans" Base64-encoded: a message the worker rejects quoting what it decodes to.</summary>
    private const string Base64Prompt = "U2VjcmV0IGdhcmRlbiBwbGFucw==";

    [Fact]
    public async Task By_default_no_prompt_or_completion_text_reaches_a_span_or_a_log_line_not_even_in_an_error()
    {
        var logs = new CapturingLoggerProvider();
        await using var host = await JobsTestHost.CreateAsync(withModel: true, services: s => s.AddLogging(b => b.AddProvider(logs)));
        var submit = await host.SubmitAsync(JsonSerializer.Serialize(new { prompt = "Secret garden of the north wing", parameters = new { max_new_tokens = 6 } }));
        var id = submit.Body.GetProperty("id").GetString()!;
        await host.ProcessNextAsync();
        var job = (await host.GetAsync(id)).Body;
        Assert.Equal("succeeded", job.GetProperty("status").GetString());
        var completion = job.GetProperty("results")[0].GetProperty("completion").GetString()!;
        var rejected = await host.DropAndReceiveAsync(Base64Prompt);
        await host.Worker.ProcessAsync(rejected.MessageText, rejected.MessageId, rejected.DequeueCount, CancellationToken.None);
        _tracing.ForceFlush();

        // The client still reads what its message decoded to: the record is the job's owner's, not telemetry.
        Assert.Contains("Secret garden plans", (await host.RecordAsync(rejected.MessageId)).Error!.Message, StringComparison.Ordinal);
        var texts = new[] { "Secret garden", completion.Trim() }.Where(t => t.Length >= 6).ToArray();
        var spans = Spans().Where(s => Tag(s, "job.id") is { } job && (job == id || job == rejected.MessageId)).ToList();
        Assert.Equal(2, spans.Count(s => s.OperationName == "jobs.process"));
        var traced = Spans().Where(s => spans.Any(p => p.TraceId == s.TraceId)).ToList();
        Assert.DoesNotContain(traced, s => s.OperationName == "jobs.generate" && (s.GetTagItem("job.prompts") is not null || s.GetTagItem("job.completions") is not null));
        foreach (var text in texts)
        {
            Assert.DoesNotContain(traced, s => s.TagObjects.Any(t => Text(t.Value).Contains(text, StringComparison.Ordinal)));
            Assert.DoesNotContain(logs.Entries, e => Mentions(e, text));
        }
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("invalid_message", StringComparison.Ordinal));
    }

    [Fact]
    public async Task With_Telemetry_IncludeText_the_generate_span_carries_prompts_and_completions_and_error_logs_quote_the_text()
    {
        var logs = new CapturingLoggerProvider();
        await using var host = await JobsTestHost.CreateAsync(withModel: true, settings: new Dictionary<string, string?> { ["Telemetry:IncludeText"] = "true" },
            services: s => s.AddLogging(b => b.AddProvider(logs)));
        string[] prompts = ["Secret garden of the north wing", "Secret garden of the south wing"];
        var submit = await host.SubmitAsync(JsonSerializer.Serialize(new { prompts, parameters = new { max_new_tokens = 6 } }));
        var id = submit.Body.GetProperty("id").GetString()!;
        await host.ProcessNextAsync();
        var job = (await host.GetAsync(id)).Body;
        Assert.Equal("succeeded", job.GetProperty("status").GetString());
        var completions = job.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("completion").GetString()).ToArray();
        var rejected = await host.DropAndReceiveAsync(Base64Prompt);
        await host.Worker.ProcessAsync(rejected.MessageText, rejected.MessageId, rejected.DequeueCount, CancellationToken.None);
        _tracing.ForceFlush();

        var process = Assert.Single(Spans(), s => s.OperationName == "jobs.process" && Tag(s, "job.id") == id);
        var generate = Assert.Single(Spans(), s => s.OperationName == "jobs.generate" && s.ParentSpanId == process.SpanId);
        Assert.Equal(prompts, Assert.IsType<string[]>(generate.GetTagItem("job.prompts")));
        Assert.Equal(completions, Assert.IsType<string[]>(generate.GetTagItem("job.completions")));
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Warning && Mentions(e, "Secret garden plans"));
    }

    private static string Text(object? value) => value is string[] items ? string.Join('|', items) : value?.ToString() ?? "";

    private static bool Mentions(LogEntry entry, string text) =>
        entry.Message.Contains(text, StringComparison.Ordinal)
        || entry.Values.Values.Any(v => Text(v).Contains(text, StringComparison.Ordinal))
        || entry.Scopes.Values.Any(v => Text(v).Contains(text, StringComparison.Ordinal))
        || entry.Exception?.ToString().Contains(text, StringComparison.Ordinal) == true;

    private List<Activity> Spans()
    {
        lock (_spans) return [.. _spans];
    }

    private static string? Tag(Activity span, string name) => span.TagObjects.FirstOrDefault(t => t.Key == name).Value?.ToString();

    /// <summary>The instrument exported with this unit and a point carrying every given tag (a null value: any value).</summary>
    private void AssertRecorded(string name, string unit, params (string Key, string? Value)[] tags)
    {
        var snapshots = _metrics.Where(m => m.Name == name).ToList();
        Assert.True(snapshots.Count > 0, $"No metric {name} was exported.");
        Assert.All(snapshots, m => Assert.Equal(unit, m.Unit));
        var found = snapshots.SelectMany(m => m.MetricPoints).Any(point =>
        {
            var values = new Dictionary<string, object?>();
            foreach (var tag in point.Tags) values[tag.Key] = tag.Value;
            return tags.All(t => values.TryGetValue(t.Key, out var v) && (t.Value is null || Equals(v?.ToString(), t.Value)));
        });
        Assert.True(found, $"{name} has no point tagged {string.Join(", ", tags.Select(t => $"{t.Key}={t.Value ?? "*"}"))}.");
    }
}
