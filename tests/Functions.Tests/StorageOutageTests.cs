using System.Net;
using Serverless.Functions.Tests.Infrastructure;

namespace Serverless.Functions.Tests;

/// <summary>A local host over an Azurite of its own (on other ports, persisted to disk), so stopping it disturbs no
/// other test. The collection keeps these tests from running beside themselves.</summary>
public sealed class OwnAzuriteHostFixture : LocalHostFixture
{
    private readonly AzuriteProcess _azurite = new();

    public AzuriteProcess Azurite => _azurite;

    protected override string ConnectionString => _azurite.ConnectionString;

    protected override IEnumerable<string> Settings =>
    [
        "AzureFunctionsJobHost:extensions:queues:maxPollingInterval=00:00:01",
        "AzureFunctionsJobHost:extensions:queues:visibilityTimeout=00:00:02",
    ];

    public override async Task InitializeAsync()
    {
        await _azurite.StartAsync();
        await base.InitializeAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _azurite.DisposeAsync();
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class OwnAzuriteCollection : ICollectionFixture<OwnAzuriteHostFixture>
{
    public const string Name = "own-azurite";
}

[Collection(OwnAzuriteCollection.Name)]
public sealed class StorageOutageTests(OwnAzuriteHostFixture host)
{
    [Fact]
    public async Task Storage_down_for_20_seconds_mid_run_and_the_queued_job_still_succeeds()
    {
        // Warm: the model is downloaded and loaded before the outage.
        var warm = await host.SubmitAsync(new { prompt = "Where is Ganymede?", parameters = new { max_new_tokens = 2 } });
        Assert.Equal("succeeded", (await host.WaitAsync(warm)).Status());

        // A job that becomes visible only while storage is down: the host must pick it up after the outage.
        var receipt = await host.JobsQueue.SendMessageAsync("Where is Ganymede located in the solar system?", visibilityTimeout: TimeSpan.FromSeconds(12));
        await Task.Delay(TimeSpan.FromSeconds(6)); // let Azurite's database save the message before it stops
        await host.Azurite.StopAsync();

        // While storage is down the API says so (503) rather than hanging or accepting a job it cannot queue.
        HttpStatusCode duringOutage;
        using (var during = await host.Http.PostAsync("api/jobs", new StringContent("""{"prompt": "during the outage"}""")))
            duringOutage = during.StatusCode;

        await Task.Delay(TimeSpan.FromSeconds(20));
        await host.Azurite.StartAsync();

        var job = await host.WaitAsync(receipt.Value.MessageId, TimeSpan.FromSeconds(90));
        Assert.Equal("succeeded", job.Status());

        // And new work flows again.
        var after = await host.SubmitAsync(new { prompt = "After the outage", parameters = new { max_new_tokens = 2 } });
        Assert.Equal("succeeded", (await host.WaitAsync(after)).Status());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, duringOutage);
    }
}
