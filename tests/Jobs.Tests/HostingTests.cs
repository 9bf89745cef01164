using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Serverless.Jobs.Storage;
using Serverless.Jobs.Tests.Infrastructure;
using Serverless.ModelStore;

namespace Serverless.Jobs.Tests;

public sealed class HostingTests
{
    [Fact]
    public void Identity_based_connection_builds_clients_for_the_configured_endpoints_without_a_connection_string()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            // As app settings: AzureWebJobsStorage__blobServiceUri etc.; no AzureWebJobsStorage value at all.
            ["AzureWebJobsStorage:blobServiceUri"] = "https://acct.blob.core.windows.net",
            ["AzureWebJobsStorage:queueServiceUri"] = "https://acct.queue.core.windows.net",
            ["AzureWebJobsStorage:credential"] = "managedidentity",
            ["AzureWebJobsStorage:clientId"] = "00000000-0000-0000-0000-000000000001",
            ["PromptJobsQueue"] = "queue1",
            ["JobsContainer"] = "jobs1",
            ["CompletionsContainer"] = "completions1",
        }).Build();
        using var services = new ServiceCollection().AddPromptJobs(configuration).BuildServiceProvider();

        var containers = services.GetRequiredService<JobContainers>();
        Assert.Equal("https://acct.blob.core.windows.net/jobs1", containers.Jobs.Uri.ToString());
        Assert.Equal("https://acct.blob.core.windows.net/completions1", containers.Completions.Uri.ToString());
        Assert.Equal("https://acct.queue.core.windows.net/queue1", services.GetRequiredService<JobQueue>().Client.Uri.ToString());
        // The public entry points resolve too (nothing touches the network until first use), once per app: singletons.
        Assert.Same(services.GetRequiredService<JobsApi>(), services.GetRequiredService<JobsApi>());
        Assert.Same(services.GetRequiredService<JobWorker>(), services.GetRequiredService<JobWorker>());
        Assert.Same(services.GetRequiredService<PoisonJobHandler>(), services.GetRequiredService<PoisonJobHandler>());
    }

    [Fact]
    public void The_store_and_the_queue_are_built_from_the_one_registered_connection()
    {
        // No AzureWebJobsStorage setting at all: every client must come from the connection the host registered.
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>()).Build();
        var collection = new ServiceCollection();
        collection.AddSingleton(StorageConnection.FromSettings("Elsewhere", key => key == "Elsewhere__accountName" ? "acct2" : null));
        using var services = collection.AddPromptJobs(configuration).BuildServiceProvider();

        Assert.Equal("https://acct2.blob.core.windows.net/jobs", services.GetRequiredService<JobStore>().JobsContainer.Uri.ToString());
        Assert.Equal("https://acct2.queue.core.windows.net/prompt-jobs", services.GetRequiredService<JobQueue>().Client.Uri.ToString());
        Assert.Same(services.GetRequiredService<JobsApi>(), services.GetRequiredService<JobsApi>());
    }

    [Fact]
    public void Missing_connection_says_which_settings_to_set()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>()).Build();
        using var services = new ServiceCollection().AddPromptJobs(configuration).BuildServiceProvider();
        var e = Assert.Throws<InvalidOperationException>(() => services.GetRequiredService<JobQueue>());
        Assert.Contains("AzureWebJobsStorage__queueServiceUri", e.Message);
    }

    [Fact]
    public void Malformed_limit_setting_is_named()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Jobs:BatchSize"] = "zero" }).Build();
        var e = Assert.Throws<FormatException>(() => JobsServiceCollectionExtensions.ReadOptions(configuration));
        Assert.Contains("Jobs__BatchSize", e.Message);
    }

    [Fact]
    public async Task Job_logs_carry_the_job_id_model_load_time_tokens_and_throughput()
    {
        var logs = new CapturingLoggerProvider();
        await using var host = await JobsTestHost.CreateAsync(withModel: true, services: s => s.AddLogging(b => b.AddProvider(logs)));
        var message = await host.DropAndReceiveAsync("Translate to French: good night");
        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, message.DequeueCount, CancellationToken.None);

        var worker = logs.Entries.Where(e => e.Category == typeof(JobWorker).FullName).ToArray();
        Assert.NotEmpty(worker);
        Assert.All(worker, e => Assert.Equal(message.MessageId, e.Scopes["JobId"]));
        var load = Assert.Single(worker, e => e.Values.ContainsKey("ModelLoadMs"));
        Assert.True(Convert.ToDouble(load.Values["ModelLoadMs"]) > 0);
        var done = Assert.Single(worker, e => e.Values.ContainsKey("TokensPerSecond"));
        Assert.Equal(message.MessageId, done.Values["JobId"]);
        Assert.True(Convert.ToInt32(done.Values["InputTokens"]) > 0);
        Assert.True(Convert.ToInt32(done.Values["OutputTokens"]) > 0);
    }
}
