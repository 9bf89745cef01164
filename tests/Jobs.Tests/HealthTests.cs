using Microsoft.Extensions.DependencyInjection;
using Serverless.Inference.Model;
using Serverless.Jobs.Tests.Infrastructure;
using Serverless.ModelStore;

namespace Serverless.Jobs.Tests;

public sealed class HealthTests
{
    [Fact]
    public async Task Health_reports_the_model_without_loading_it_and_the_loaded_version_after_a_job()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true);
        var health = host.Services.GetRequiredService<HealthApi>();
        var provider = host.Services.GetRequiredService<ModelProvider<T5Model>>();

        var before = await JobsTestHost.ExecuteAsync(await health.GetAsync(CancellationToken.None));
        Assert.Equal(200, before.Status);
        Assert.False(before.Body.GetProperty("model").GetProperty("loaded").GetBoolean());
        Assert.Null(provider.LoadedVersion); // the probe did not load it
        Assert.Equal(0, before.Body.GetProperty("queues").GetProperty("poison_length").GetInt32());

        await host.SubmitAsync("""{"prompt": "health", "parameters": {"max_new_tokens": 2}}""");
        var queued = await JobsTestHost.ExecuteAsync(await health.GetAsync(CancellationToken.None));
        Assert.Equal(1, queued.Body.GetProperty("queues").GetProperty("length").GetInt32());

        await host.ProcessNextAsync();
        var after = await JobsTestHost.ExecuteAsync(await health.GetAsync(CancellationToken.None));
        Assert.True(after.Body.GetProperty("model").GetProperty("loaded").GetBoolean());
        Assert.Equal(provider.LoadedVersion, after.Body.GetProperty("model").GetProperty("version").GetString());
    }
}
