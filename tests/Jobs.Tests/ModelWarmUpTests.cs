using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Serverless.Inference.Model;
using Serverless.Jobs.Models;
using Serverless.Jobs.Tests.Infrastructure;
using Serverless.ModelStore;

namespace Serverless.Jobs.Tests;

/// <summary>
/// The warm-up (<c>AddModelWarmUp</c>): a new instance loads the model and the submit's tokenizer when it starts, and a
/// missing model behaves as before it (the warm-up says why; the first job after the upload loads it).
/// </summary>
public sealed class ModelWarmUpTests
{
    private static async Task<IHostedService> StartWarmUpAsync(JobsTestHost host)
    {
        var warmUp = Assert.Single(host.Services.GetServices<IHostedService>(), s => s is ModelWarmUp);
        await warmUp.StartAsync(CancellationToken.None);
        return warmUp;
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        for (var waited = TimeSpan.Zero; !condition(); waited += TimeSpan.FromMilliseconds(50))
        {
            if (waited > TimeSpan.FromSeconds(60)) Assert.Fail($"Timed out waiting for {what}.");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task The_model_and_the_tokenizer_are_loaded_at_start_and_the_first_job_loads_nothing_more()
    {
        var logs = new CapturingLoggerProvider();
        await using var host = await JobsTestHost.CreateAsync(withModel: true, services: s => s.AddLogging(b => b.AddProvider(logs)).AddModelWarmUp());
        var model = host.Services.GetRequiredService<ModelProvider<T5Model>>();
        var tokenizer = host.Services.GetRequiredService<ModelProvider<SubmitTokenizer>>();

        var warmUp = await StartWarmUpAsync(host);
        await WaitForAsync(() => model.LoadedVersion is not null && tokenizer.LoadedVersion is not null, "the warm-up's loads");
        var load = model.LastLoad!;
        var message = await host.DropAndReceiveAsync("Translate to French: good night");
        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, message.DequeueCount, CancellationToken.None);
        await warmUp.StopAsync(CancellationToken.None);

        Assert.Same(load, model.LastLoad);
        // The job found the model loaded: no load time of its own.
        Assert.DoesNotContain(logs.Entries, e => e.Category == typeof(JobWorker).FullName && e.Values.ContainsKey("ModelLoadMs"));
        // One cold-start line for the one load, with when it began and when it was ready.
        var line = Assert.Single(logs.Entries, e => e.Values.ContainsKey("SessionsMs"));
        Assert.Equal(model.LoadedVersion, line.Values["ModelVersion"]);
        Assert.Equal(load.StartedAt, line.Values["LoadStartedAt"]);
        Assert.Equal(load.ReadyAt, line.Values["ReadyAt"]);
        Assert.Equal(load.BytesDownloaded, line.Values["BytesDownloaded"]);
        Assert.Contains(logs.Entries, e => e.Category == typeof(ModelWarmUp).FullName && e.Values.ContainsKey("SinceProcessStartMs"));
    }

    [Fact]
    public async Task Without_a_model_the_warm_up_says_why_and_the_first_job_after_the_upload_loads_it()
    {
        var logs = new CapturingLoggerProvider();
        await using var host = await JobsTestHost.CreateAsync(services: s => s.AddLogging(b => b.AddProvider(logs)).AddModelWarmUp());
        await host.Models.CreateIfNotExistsAsync(); // nothing uploaded

        var warmUp = await StartWarmUpAsync(host);
        await WaitForAsync(() => logs.Entries.Count(e => e.Category == typeof(ModelWarmUp).FullName && e.Level == LogLevel.Warning) == 2,
            "the warm-up's warnings (model and tokenizer)");
        await warmUp.StopAsync(CancellationToken.None);
        var warning = logs.Entries.First(e => e.Category == typeof(ModelWarmUp).FullName && e.Level == LogLevel.Warning);
        Assert.IsAssignableFrom<ModelStoreException>(warning.Exception);
        Assert.Equal("not_ready", (await JobsTestHost.ExecuteAsync(await host.Services.GetRequiredService<HealthApi>().GetAsync(CancellationToken.None)))
            .Body.GetProperty("status").GetString());

        await ModelUploader.UploadAsync(RepoPaths.TinyModel, host.Models, JobsTestHost.ModelPrefix);
        var message = await host.DropAndReceiveAsync("Translate to French: good night");
        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, message.DequeueCount, CancellationToken.None);

        Assert.Contains(logs.Entries, e => e.Category == typeof(JobWorker).FullName && e.Values.ContainsKey("ModelLoadMs"));
        Assert.NotNull(host.Services.GetRequiredService<ModelProvider<T5Model>>().LoadedVersion);
    }
}
