using System.Text;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary><c>Idempotency-Key</c> on <c>POST /api/jobs</c>: retries of one submit make one job.</summary>
public sealed class IdempotentSubmitTests
{
    private static async Task<HttpReply> SubmitAsync(JobsTestHost host, string body, string? key)
    {
        var request = JobsTestHost.Request(Encoding.UTF8.GetBytes(body));
        if (key is not null) request.Headers["Idempotency-Key"] = key;
        return await JobsTestHost.ExecuteAsync(await host.Api.SubmitAsync(request, CancellationToken.None));
    }

    [Fact]
    public async Task Twenty_concurrent_retries_make_one_job_and_one_message()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true);
        const string body = """{"prompts": ["a", "b"], "parameters": {"max_new_tokens": 3}}""";
        var key = Guid.NewGuid().ToString();

        var replies = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => SubmitAsync(host, body, key))));

        Assert.All(replies, r => Assert.Contains(r.Status, new[] { 200, 202 }));
        Assert.Single(replies, r => r.Status == 202);
        var ids = replies.Select(r => r.Body.GetProperty("id").GetString()).Distinct().ToArray();
        var id = Assert.Single(ids)!;
        Assert.All(replies, r => Assert.Equal($"/api/jobs/{id}", r.Headers.Location.ToString()));
        Assert.Single(await host.PeekAllAsync());
        Assert.Equal(2, (await host.RecordAsync(id)).PromptCount);
    }

    [Fact]
    public async Task A_retry_after_the_job_ran_returns_it_with_its_current_status()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true);
        const string body = """{"prompt": "hello", "parameters": {"max_new_tokens": 2}}""";
        var first = await SubmitAsync(host, body, "order-42");
        await host.ProcessNextAsync();

        var retry = await SubmitAsync(host, body, "order-42");

        Assert.Equal(202, first.Status);
        Assert.Equal(200, retry.Status);
        Assert.Equal(first.Body.GetProperty("id").GetString(), retry.Body.GetProperty("id").GetString());
        Assert.Equal("succeeded", retry.Body.GetProperty("status").GetString());
        Assert.Empty(await host.PeekAllAsync());
    }

    [Fact]
    public async Task The_same_key_with_another_body_is_a_409_and_makes_nothing()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true);
        var first = await SubmitAsync(host, """{"prompt": "one"}""", "k1");

        var other = await SubmitAsync(host, """{"prompt": "two"}""", "k1");

        Assert.Equal(202, first.Status);
        Assert.Equal(409, other.Status);
        Assert.Contains("Idempotency-Key", other.Errors.Keys);
        Assert.Single(await host.PeekAllAsync());
    }

    [Fact]
    public async Task Without_a_key_each_post_is_a_new_job()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true);
        var a = await SubmitAsync(host, """{"prompt": "one"}""", null);
        var b = await SubmitAsync(host, """{"prompt": "one"}""", null);
        Assert.NotEqual(a.Body.GetProperty("id").GetString(), b.Body.GetProperty("id").GetString());
    }

    [Theory]
    [InlineData("has space")]
    [InlineData("")]
    public async Task An_unusable_key_is_a_400_naming_the_header(string key)
    {
        await using var host = await JobsTestHost.CreateAsync();
        var reply = await SubmitAsync(host, """{"prompt": "one"}""", key);
        Assert.Equal(400, reply.Status);
        Assert.Contains("Idempotency-Key", reply.Errors.Keys);
        Assert.Empty(await host.PeekAllAsync());
    }
}
