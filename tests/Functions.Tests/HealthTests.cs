using System.Net;
using System.Text.Json;
using Serverless.Functions.Tests.Infrastructure;

namespace Serverless.Functions.Tests;

/// <summary><c>GET /api/health</c> on the local host over an Azurite of its own, which the test stops and restarts.</summary>
[Collection(OwnAzuriteCollection.Name)]
public sealed class HealthTests(OwnAzuriteHostFixture host)
{
    [Fact]
    public async Task Health_is_200_with_queue_lengths_503_with_storage_down_and_200_again_after()
    {
        await host.JobsQueue.SendMessageAsync("health probe message", visibilityTimeout: TimeSpan.FromMinutes(5));
        var (status, body) = await GetHealthAsync();
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("healthy", body.GetProperty("status").GetString());
        Assert.True(body.GetProperty("storage_reachable").GetBoolean());
        var queues = body.GetProperty("queues");
        Assert.Equal(host.Queue, queues.GetProperty("name").GetString());
        Assert.True(queues.GetProperty("length").GetInt32() >= 1);
        Assert.Equal(host.Queue + "-poison", queues.GetProperty("poison_name").GetString());
        Assert.Contains(body.GetProperty("model").GetProperty("loaded").ValueKind, new[] { JsonValueKind.True, JsonValueKind.False });

        await host.Azurite.StopAsync();
        try
        {
            (status, body) = await GetHealthAsync();
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.Equal("unhealthy", body.GetProperty("status").GetString());
            Assert.False(body.GetProperty("storage_reachable").GetBoolean());
            Assert.Contains("Storage", body.GetProperty("reason").GetString());
        }
        finally
        {
            await host.Azurite.StartAsync();
        }

        (status, body) = await GetHealthAsync();
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("healthy", body.GetProperty("status").GetString());
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> GetHealthAsync()
    {
        using var response = await host.Http.GetAsync("api/health");
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, document.RootElement.Clone());
    }
}
