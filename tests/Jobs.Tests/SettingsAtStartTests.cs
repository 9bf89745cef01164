using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Serverless.Jobs.Tests;

/// <summary>A setting no request can succeed with stops the host at start, naming the setting and its rule.</summary>
public sealed class SettingsAtStartTests
{
    [Theory]
    [InlineData("PromptJobsQueue", "q2")]
    [InlineData("PromptJobsQueue", "Prompt_Jobs")]
    [InlineData("PromptJobsQueue", "a-queue-name-so-long-that-its-poison-queue-would-not-fit-in-63")]
    [InlineData("JobsContainer", "jobs--records")]
    [InlineData("CompletionsContainer", "-completions")]
    [InlineData("Jobs:BatchWindowMs", "soon")]
    [InlineData("Jobs:SubmitTokenizerWaitSeconds", "-1")]
    [InlineData("Completions:TimeBudgetSeconds", "2 minutes")]
    [InlineData("Callbacks:RetryDelayMilliseconds", "1.5")]
    public async Task An_invalid_setting_stops_the_host_at_start_naming_it(string key, string value)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["AzureWebJobsStorage"] = "UseDevelopmentStorage=true", [key] = value });
        builder.Services.AddPromptJobs(builder.Configuration);
        using var host = builder.Build();

        var e = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());

        Assert.Contains(key.Replace(":", "__", StringComparison.Ordinal), e.Message);
        Assert.Contains(value, e.Message);
        await host.StopAsync();
    }

    [Fact]
    public async Task Valid_names_start_the_host()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage"] = "UseDevelopmentStorage=true",
            ["PromptJobsQueue"] = "prompt-jobs-2",
            ["JobsContainer"] = "jobs2",
        });
        builder.Services.AddPromptJobs(builder.Configuration);
        using var host = builder.Build();

        await host.StartAsync();
        Assert.Equal("prompt-jobs-2", host.Services.GetRequiredService<PromptJobsOptions>().QueueName);
        await host.StopAsync();
    }
}
