using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Jobs.Completions;
using Serverless.Jobs.Http;
using Serverless.Jobs.Playground;
using Serverless.Jobs.Tests.Infrastructure;
using Serverless.ModelStore;

namespace Serverless.Jobs.Tests;

/// <summary>No model uploaded is a misconfiguration, not a passing outage: the answers say so and how to fix it.</summary>
public sealed class ModelNotReadyTests
{
    [Fact]
    public async Task Without_a_model_completions_and_tokenize_answer_the_reason_and_the_fix_and_health_is_not_ready()
    {
        await using var host = await JobsTestHost.CreateAsync();
        await host.Models.CreateIfNotExistsAsync(); // the container exists, nothing uploaded into it

        var completion = await JobsTestHost.ExecuteAsync(await host.Services.GetRequiredService<CompletionsApi>()
            .CompleteAsync(Post("/api/completions", """{"prompt": "hi"}"""), CancellationToken.None));
        var tokenize = await JobsTestHost.ExecuteAsync(await host.Services.GetRequiredService<TokenizeApi>()
            .TokenizeAsync(Post("/api/tokenize", """{"inputs": "hi"}"""), CancellationToken.None));

        foreach (var reply in new[] { completion, tokenize })
        {
            Assert.Equal(503, reply.Status);
            Assert.Equal("application/problem+json; charset=utf-8", reply.ContentType);
            Assert.Equal(ModelProblems.NotReadyType, reply.Body.GetProperty("type").GetString());
            Assert.Equal("Model not available", reply.Body.GetProperty("title").GetString());
            var detail = reply.Body.GetProperty("detail").GetString()!;
            Assert.Contains("config.json", detail);
            Assert.Contains("serverless model upload", detail);
            Assert.DoesNotContain("try again shortly", detail);
            Assert.Equal(0, reply.Headers.RetryAfter.Count); // retrying alone will not help
        }

        var health = await JobsTestHost.ExecuteAsync(await host.Services.GetRequiredService<HealthApi>().GetAsync(CancellationToken.None));
        Assert.Equal(503, health.Status);
        Assert.Equal("not_ready", health.Body.GetProperty("status").GetString());
        Assert.True(health.Body.GetProperty("storage_reachable").GetBoolean());
        Assert.Contains("serverless model upload", health.Body.GetProperty("model").GetProperty("error").GetString());
    }

    [Fact]
    public async Task Health_is_ready_again_once_the_model_is_uploaded_and_loads()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var health = host.Services.GetRequiredService<HealthApi>();
        var models = host.Services.GetRequiredService<Models.IJobModelSource>();
        await Assert.ThrowsAnyAsync<ModelStoreException>(() => models.AcquireAsync(CancellationToken.None));
        Assert.Equal(503, (await JobsTestHost.ExecuteAsync(await health.GetAsync(CancellationToken.None))).Status);

        await ModelUploader.UploadAsync(RepoPaths.TinyModel, host.Models, JobsTestHost.ModelPrefix);
        (await models.AcquireAsync(CancellationToken.None)).Dispose();

        var after = await JobsTestHost.ExecuteAsync(await health.GetAsync(CancellationToken.None));
        Assert.Equal(200, after.Status);
        Assert.False(after.Body.GetProperty("model").TryGetProperty("error", out _));
    }

    private static HttpRequest Post(string path, string body)
    {
        var request = JobsTestHost.JsonRequest(body);
        request.Path = path;
        return request;
    }
}
