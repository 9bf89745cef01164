using System.Net;
using Serverless.Functions.Tests.Infrastructure;

namespace Serverless.Functions.Tests;

/// <summary>
/// The Functions host adds a JSON message's top-level properties to the trigger's binding data, over the message's
/// own Id and DequeueCount (ignoring case); the local host reproduces that (IsolatedWorkerBinding). A message body must
/// never choose its job id through that path nor break the retry count: the job id is the message id, unless the body is
/// a job spec whose own "id" is valid, and an invalid "id" fails the job under the message id.
/// </summary>
public sealed class QueueMessageBindingTests(LocalHostFixture host) : IClassFixture<LocalHostFixture>
{
    [Theory]
    [InlineData("id")]
    [InlineData("Id")]
    [InlineData("ID")]
    public async Task A_json_message_that_is_not_a_spec_runs_under_its_message_id_whatever_id_it_carries(string name)
    {
        var chosen = "chosen-" + Guid.NewGuid().ToString("N");
        var receipt = await host.JobsQueue.SendMessageAsync($$"""{"{{name}}": "{{chosen}}", "text": "hello"}""");

        var job = await host.WaitAsync(receipt.Value.MessageId);

        Assert.Equal("succeeded", job.Status());
        Assert.Equal(receipt.Value.MessageId, job.GetProperty("id").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await host.Http.GetAsync($"api/jobs/{chosen}")).StatusCode);
    }

    [Theory]
    [InlineData("7")]
    [InlineData("\"has/slash\"")]
    [InlineData("\"\"")]
    [InlineData("{\"a\": 1}")]
    public async Task A_spec_with_an_invalid_id_fails_under_the_message_id_saying_why(string idJson)
    {
        var receipt = await host.JobsQueue.SendMessageAsync($$"""{"id": {{idJson}}, "prompt": "Where is Ganymede?"}""");

        var job = await host.WaitAsync(receipt.Value.MessageId);

        Assert.Equal("failed", job.Status());
        Assert.Equal(receipt.Value.MessageId, job.GetProperty("id").GetString());
        Assert.Equal("invalid_message", job.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("id must be a string", job.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await host.Http.GetAsync("api/jobs/7")).StatusCode);
    }

    [Fact]
    public async Task A_spec_with_a_valid_id_runs_under_that_id()
    {
        var id = "own-" + Guid.NewGuid().ToString("N");
        await host.JobsQueue.SendMessageAsync($$$"""{"id": "{{{id}}}", "prompt": "Where is Ganymede?", "parameters": {"max_new_tokens": 2}}""");

        var job = await host.WaitAsync(id);

        Assert.Equal("succeeded", job.Status());
    }

    [Theory]
    [InlineData("\"abc\"")]
    [InlineData("99")]
    public async Task A_dequeueCount_property_neither_breaks_binding_nor_hides_the_job(string value)
    {
        var receipt = await host.JobsQueue.SendMessageAsync($$"""{"prompt": "Where is Ganymede?", "dequeueCount": {{value}}}""");

        var job = await host.WaitAsync(receipt.Value.MessageId);

        // Read as a spec with an unknown field: failed at once under the sender's message id, naming the field.
        Assert.Equal("failed", job.Status());
        Assert.Equal("invalid_message", job.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("dequeueCount", job.GetProperty("error").GetProperty("message").GetString());
        Assert.False((await host.PoisonQueue.PeekMessagesAsync()).Value.Any());
    }

    [Theory]
    [InlineData("""{"prompt": "lone \ud800 surrogate"}""", "prompt")]
    [InlineData("""{"prompts": ["ok", "\udc00"]}""", "prompts[1]")]
    [InlineData("""{"prompt": "hi", "parameters": {"stop_strings": ["\ud800"]}}""", "parameters.stop_strings[0]")]
    [InlineData("""{"prompt": "hi", "\ud800": 1}""", "body")]
    public async Task A_spec_with_unreadable_text_ends_failed_under_its_message_id(string spec, string field)
    {
        var receipt = await host.JobsQueue.SendMessageAsync(spec);

        var job = await host.WaitAsync(receipt.Value.MessageId);

        Assert.Equal("failed", job.Status());
        Assert.Equal("invalid_message", job.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains(field + ":", job.GetProperty("error").GetProperty("message").GetString());
    }
}
