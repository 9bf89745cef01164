using System.Text;
using Serverless.Jobs.Messages;
using Serverless.Jobs.Storage;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary>
/// Specs whose strings cannot be read as text (a lone surrogate escape, invalid UTF-8): JsonDocument accepts them and
/// throws only when the string is read. Every such message must still end in a failed record naming the field, and
/// every such HTTP body must get 400 naming it.
/// </summary>
public sealed class UnreadableTextTests
{
    // Each: the spec (JSON text as sent) and the field its error must name.
    public static TheoryData<string, string> QueueSpecs => new()
    {
        { """{"prompt": "lone \ud800 surrogate"}""", "prompt" },
        { """{"prompt": "low \udc00 alone"}""", "prompt" },
        { """{"prompts": ["fine", "bad \ud83d end"]}""", "prompts[1]" },
        { """{"prompt": "hi", "parameters": {"stop_strings": ["ok", "\ud800"]}}""", "parameters.stop_strings[1]" },
        { """{"prompt": "hi", "parameters": {"truncation": "\udfff"}}""", "parameters.truncation" },
        { """{"prompt": "hi", "\ud800name": 1}""", "body" },
        { """{"prompt": "hi", "parameters": {"\ud800": 1}}""", "parameters" },
    };

    [Theory]
    [MemberData(nameof(QueueSpecs))]
    public async Task A_queue_spec_with_unreadable_text_fails_under_the_message_id_naming_the_field(string spec, string field)
    {
        await using var host = await JobsTestHost.CreateAsync();
        var message = await host.DropAndReceiveAsync(spec);

        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, message.DequeueCount, CancellationToken.None);

        var record = await host.RecordAsync(message.MessageId);
        Assert.Equal(JobStatus.Failed, record.Status);
        Assert.Equal("invalid_message", record.Error!.Code);
        Assert.Contains(field + ":", record.Error.Message);
        Assert.Contains("not valid Unicode", record.Error.Message);
    }

    [Fact]
    public async Task A_submitted_spec_with_unreadable_text_fails_under_its_own_id()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var message = await host.DropAndReceiveAsync("""{"id": "own-id-1", "prompts": ["\ud800"]}""");

        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, message.DequeueCount, CancellationToken.None);

        var record = await host.RecordAsync("own-id-1");
        Assert.Equal(JobStatus.Failed, record.Status);
        Assert.Contains("prompts[0]:", record.Error!.Message);
    }

    [Fact]
    public async Task A_spec_in_a_blob_with_unreadable_text_fails_naming_the_field()
    {
        await using var host = await JobsTestHost.CreateAsync();
        await host.Inputs.WriteAsync("blob-spec-1", """{"id": "blob-spec-1", "prompts": ["a \udbff b"]}""", CancellationToken.None);
        var message = await host.DropAndReceiveAsync("""{"id": "blob-spec-1", "input": "blob"}""");

        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, message.DequeueCount, CancellationToken.None);

        var record = await host.RecordAsync("blob-spec-1");
        Assert.Equal(JobStatus.Failed, record.Status);
        Assert.Contains("prompts[0]:", record.Error!.Message);
    }

    public static TheoryData<byte[], string> HttpBodies => new()
    {
        { Encoding.UTF8.GetBytes("""{"prompt": "lone \ud800 surrogate"}"""), "prompt" },
        { [.. "{\"prompt\": \"bad "u8, 0xC3, 0x28, .. " utf8\"}"u8], "prompt" },
        { Encoding.UTF8.GetBytes("""{"prompt": "hi", "parameters": {"stop_strings": ["\udc00"]}}"""), "parameters.stop_strings[0]" },
        { [.. "{\"prompt\": \"hi\", \"parameters\": {\"stop_strings\": [\""u8, 0xFF, .. "\"]}}"u8], "parameters.stop_strings[0]" },
        { Encoding.UTF8.GetBytes("""{"prompt": "hi", "\ud800": 1}"""), "body" },
        { [.. "{\"prompt\": \"hi\", \""u8, 0xE2, 0x82, .. "\": 1}"u8], "body" },
    };

    [Theory]
    [MemberData(nameof(HttpBodies))]
    public async Task A_submit_with_unreadable_text_is_a_400_naming_the_field(byte[] body, string field)
    {
        await using var host = await JobsTestHost.CreateAsync();

        var reply = await JobsTestHost.ExecuteAsync(await host.Api.SubmitAsync(JobsTestHost.Request(body), CancellationToken.None));

        Assert.Equal(400, reply.Status);
        Assert.StartsWith("application/problem+json", reply.ContentType);
        Assert.Contains(field, reply.Errors.Keys);
        Assert.Contains("not valid Unicode", string.Join(" ", reply.Errors[field]));
        Assert.Empty(await host.PeekAllAsync());
    }

    [Fact]
    public void The_message_reader_never_throws_on_unreadable_text()
    {
        var message = QueueMessageReader.Read("""{"id": "\ud800", "prompt": "x"}""", "m1");

        Assert.Equal(MessageKind.Invalid, message.Kind);
        Assert.Equal("m1", message.JobId);
    }

    [Fact]
    public async Task The_poison_handler_records_a_known_job_that_never_got_a_record()
    {
        // The worker indexed the text, then every attempt failed before a record existed.
        await using var host = await JobsTestHost.CreateAsync();
        const string text = "a prompt whose every attempt died early";
        await host.ContentIndex.AddAsync(QueueMessageReader.ContentHash(text), "early-death-1", CancellationToken.None);

        await host.Poison.HandleAsync(text, "poison-message-id", CancellationToken.None);

        var record = await host.RecordAsync("early-death-1");
        Assert.Equal(JobStatus.Failed, record.Status);
        Assert.Equal("retries_exhausted", record.Error!.Code);
    }
}
