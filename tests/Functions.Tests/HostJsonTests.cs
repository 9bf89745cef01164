using System.Text.Json;
using Azure.Storage.Queues;
using Microsoft.Azure.WebJobs.Host;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Serverless.LocalHost;

namespace Serverless.Functions.Tests;

/// <summary>
/// The root host.json is the one settings file both hosts read. These tests pin the queue settings the job pipeline
/// depends on, and that the local host applies exactly them (and the Azure-style app-setting overrides).
/// </summary>
public sealed class HostJsonTests
{
    private static readonly string RootHostJson = Path.Combine(Paths.RepositoryRoot, "host.json");

    private static JsonElement Queues()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(RootHostJson));
        return document.RootElement.GetProperty("extensions").GetProperty("queues").Clone();
    }

    [Fact]
    public void Host_telemetry_is_OpenTelemetry()
    {
        // The worker exports with OpenTelemetry (no Application Insights SDK); the host must do the same so the host's
        // request spans and the worker's spans join one trace.
        using var document = JsonDocument.Parse(File.ReadAllText(RootHostJson));
        Assert.Equal("OpenTelemetry", document.RootElement.GetProperty("telemetryMode").GetString());
    }

    [Fact]
    public void Queue_messages_are_plain_text()
    {
        // People drop prompt files into the queue (CLI, az, Storage Explorer) as plain text; the default base64 would
        // send every such message to the poison queue undecoded.
        Assert.Equal("none", Queues().GetProperty("messageEncoding").GetString());
    }

    [Fact]
    public void Retries_are_bounded_and_spaced()
    {
        var queues = Queues();
        // The worker throws on transient failures (storage, model not uploaded yet) and relies on redelivery; the poison
        // queue then closes the job. At least one retry, and not so many that a broken job lingers for long.
        Assert.InRange(queues.GetProperty("maxDequeueCount").GetInt32(), 2, 10);
        // visibilityTimeout is the delay before a failed message is retried: non-zero, so a missing model or a storage
        // blip is not hammered, and short, so a job is not held long.
        Assert.InRange(TimeSpan.Parse(queues.GetProperty("visibilityTimeout").GetString()!), TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1));
    }

    [Fact]
    public void An_instance_holds_enough_jobs_to_fill_a_decode_batch_and_polls_often()
    {
        var queues = Queues();
        // The worker's batcher runs the prompts of concurrent invocations in shared decode batches of up to
        // Inference__MaxBatchRows rows: an instance holds enough messages (batchSize + newBatchThreshold) to fill most of
        // one, and no more than one full batch, which bounds the memory of the KV cache (peak RSS measured in docs/scaling.md).
        var batch = queues.GetProperty("batchSize").GetInt32();
        var threshold = queues.GetProperty("newBatchThreshold").GetInt32();
        using var sample = JsonDocument.Parse(File.ReadAllText(Path.Combine(Path.GetDirectoryName(RootHostJson)!, "local.settings.sample.json")));
        var maxRows = int.Parse(sample.RootElement.GetProperty("Values").GetProperty("Inference__MaxBatchRows").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(batch + threshold, maxRows / 2, maxRows);
        Assert.InRange(threshold, 0, batch);
        // An idle instance notices a new job within a few seconds (the default backs off to a minute).
        Assert.InRange(TimeSpan.Parse(queues.GetProperty("maxPollingInterval").GetString()!), TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void Functions_run_long_enough_for_a_full_job_and_http_keeps_its_api_prefix()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(RootHostJson));
        var root = document.RootElement;
        Assert.Equal("2.0", root.GetProperty("version").GetString());
        // A 64-prompt job on the real model takes minutes; Flex Consumption allows up to unbounded, default 30 min.
        Assert.InRange(TimeSpan.Parse(root.GetProperty("functionTimeout").GetString()!), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30));
        // The local host and the CLI assume the default route prefix "api".
        if (root.GetProperty("extensions").TryGetProperty("http", out var http) && http.TryGetProperty("routePrefix", out var prefix))
            Assert.Equal("api", prefix.GetString());
    }

    [Fact]
    public async Task The_local_host_reads_the_same_host_json_and_applies_its_queue_settings()
    {
        var besideHost = Path.Combine(AppContext.BaseDirectory, "host.json");
        Assert.Equal(File.ReadAllText(RootHostJson), File.ReadAllText(besideHost));

        await using var app = LocalHostApp.Create(["--urls=http://127.0.0.1:0"]);
        using var jobHost = app.Services.GetRequiredService<QueueTriggerHost>().BuildJobHost(_ => { });
        var options = jobHost.Services.GetRequiredService<IOptions<QueuesOptions>>().Value;

        var queues = Queues();
        Assert.Equal(QueueMessageEncoding.None, options.MessageEncoding);
        Assert.Equal(queues.GetProperty("batchSize").GetInt32(), options.BatchSize);
        Assert.Equal(queues.GetProperty("newBatchThreshold").GetInt32(), options.NewBatchThreshold);
        Assert.Equal(queues.GetProperty("maxDequeueCount").GetInt32(), options.MaxDequeueCount);
        Assert.Equal(TimeSpan.Parse(queues.GetProperty("visibilityTimeout").GetString()!), options.VisibilityTimeout);
        Assert.Equal(TimeSpan.Parse(queues.GetProperty("maxPollingInterval").GetString()!), options.MaxPollingInterval);
    }

    [Fact]
    public void App_settings_override_host_json_as_on_azure()
    {
        var settings = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AzureFunctionsJobHost:extensions:queues:maxDequeueCount"] = "2",
            ["AzureFunctionsJobHost:extensions:queues:visibilityTimeout"] = "00:00:01",
        }).Build();

        var read = HostJsonQueueSettings.Read(RootHostJson, settings);

        Assert.Equal(2, read.MaxDequeueCount);
        Assert.Equal(TimeSpan.FromSeconds(1), read.VisibilityTimeout);
        Assert.Equal(Queues().GetProperty("batchSize").GetInt32(), read.BatchSize);
        Assert.Equal(QueueMessageEncoding.None, read.MessageEncoding);
    }

    [Fact]
    public void A_missing_host_json_is_an_error_that_says_where_it_looked()
    {
        var missing = Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"), "host.json");
        var e = Assert.Throws<FileNotFoundException>(() => HostJsonQueueSettings.Read(missing, new ConfigurationBuilder().Build()));
        Assert.Contains(missing, e.Message);
    }
}
