using System.Text;
using System.Text.Json;
using Serverless.Jobs.Storage;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary>POST /api/jobs: accepted jobs get a record and exactly one message; rejected ones get neither.</summary>
public sealed class SubmitTests
{
    [Fact]
    public async Task Valid_prompt_is_accepted_with_location_record_and_one_message_even_without_a_model()
    {
        // No model uploaded: the submit cannot count tokens, and must accept the job anyway (the worker decides).
        await using var host = await JobsTestHost.CreateAsync();
        Assert.False(await host.Models.ExistsAsync());

        var reply = await host.SubmitAsync("""{"prompt": "Translate to German: hello", "parameters": {"max_new_tokens": 8, "top_p": 0.9}}""");

        Assert.Equal(202, reply.Status);
        var id = reply.Body.GetProperty("id").GetString()!;
        Assert.Matches("^[A-Za-z0-9-]{1,64}$", id);
        Assert.Equal($"/api/jobs/{id}", reply.Headers.Location.ToString());
        Assert.True(int.Parse(reply.Headers.RetryAfter.ToString()) > 0);
        Assert.StartsWith("application/json", reply.ContentType);
        Assert.Equal("queued", reply.Body.GetProperty("status").GetString());
        Assert.EndsWith($"/api/jobs/{id}", reply.Body.GetProperty("status_url").GetString());
        Assert.True(reply.Body.TryGetProperty("created_at", out _));

        var record = await host.RecordAsync(id);
        Assert.Equal(JobStatus.Queued, record.Status);
        Assert.Equal(1, record.PromptCount);

        var messages = await host.PeekAllAsync();
        var message = Assert.Single(messages);
        using var spec = JsonDocument.Parse(message.MessageText); // plain text, not Base64
        Assert.Equal(id, spec.RootElement.GetProperty("id").GetString());
        Assert.Equal("Translate to German: hello", spec.RootElement.GetProperty("prompts")[0].GetString());
        Assert.Equal(0.9, spec.RootElement.GetProperty("parameters").GetProperty("top_p").GetDouble());

        var status = await host.GetAsync(id);
        Assert.Equal(200, status.Status);
        Assert.Equal("queued", status.Body.GetProperty("status").GetString());
        Assert.Equal(0, status.Body.GetProperty("attempts").GetInt32());
    }

    [Fact]
    public async Task Prompts_array_is_accepted_as_one_job()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var reply = await host.SubmitAsync("""{"prompts": ["one", "two", "three"]}""");
        Assert.Equal(202, reply.Status);
        Assert.Equal(3, reply.Body.GetProperty("prompt_count").GetInt32());
        var message = Assert.Single(await host.PeekAllAsync());
        Assert.Equal(3, JsonDocument.Parse(message.MessageText).RootElement.GetProperty("prompts").GetArrayLength());
    }

    [Fact]
    public async Task Spec_too_large_for_a_queue_message_travels_through_a_blob()
    {
        await using var host = await JobsTestHost.CreateAsync(settings: new Dictionary<string, string?> { ["Jobs:MaxInlineMessageBytes"] = "1024" });
        var prompts = Enumerable.Range(0, 10).Select(i => $"prompt {i} " + new string('x', 200)).ToArray();
        var reply = await host.SubmitAsync(JsonSerializer.Serialize(new { prompts }));
        Assert.Equal(202, reply.Status);
        var id = reply.Body.GetProperty("id").GetString()!;
        var message = Assert.Single(await host.PeekAllAsync());
        Assert.True(message.MessageText.Length < 200, message.MessageText);
        var stored = await host.Jobs.GetBlobClient($"_inputs/{id}.json").DownloadContentAsync();
        Assert.Equal(prompts, JsonDocument.Parse(stored.Value.Content.ToString()).RootElement.GetProperty("prompts").EnumerateArray().Select(p => p.GetString()));
    }

    [Fact]
    public async Task Body_over_the_size_limit_is_413_and_enqueues_nothing()
    {
        await using var host = await JobsTestHost.CreateAsync(settings: new Dictionary<string, string?> { ["Jobs:MaxRequestBodyBytes"] = "2048" });
        var body = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { prompt = new string('a', 4000) }));

        // Both with a Content-Length header (rejected before reading) and without one (chunked: counted while reading).
        foreach (var withLength in new[] { true, false })
        {
            var reply = await JobsTestHost.ExecuteAsync(await host.Api.SubmitAsync(JobsTestHost.Request(body, withLength), CancellationToken.None));
            Assert.Equal(413, reply.Status);
            Assert.StartsWith("application/problem+json", reply.ContentType);
            Assert.Contains("body", reply.Errors.Keys);
        }
        Assert.Empty(await host.PeekAllAsync());
    }
}
