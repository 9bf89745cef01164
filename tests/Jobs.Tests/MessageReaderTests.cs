using System.Text;
using Serverless.Jobs.Messages;

namespace Serverless.Jobs.Tests;

public sealed class MessageReaderTests
{
    [Theory]
    [InlineData("Translate to German: How old are you?")]
    [InlineData("What")]          // valid Base64 characters, but decodes to bytes that are not UTF-8 text
    [InlineData("Test")]
    [InlineData("abcdefgh")]
    [InlineData("Summarize")]
    [InlineData("{x} is a placeholder")]
    public void Prompt_text_is_a_prompt(string text)
    {
        var message = QueueMessageReader.Read(text, "m1");
        Assert.Equal(MessageKind.Prompt, message.Kind);
        Assert.Equal("m1", message.JobId);
        Assert.Equal(text, message.Text);
    }

    [Fact]
    public void The_base64_advice_names_the_cli_command_that_exists()
    {
        var message = QueueMessageReader.Read(Convert.ToBase64String(Encoding.UTF8.GetBytes("hello there")), "m2");

        // The CLI's command is `serverless jobs enqueue` (src/Cli/Commands/JobCommands.cs); `serverless enqueue` does not exist.
        Assert.Contains("`serverless jobs enqueue`", message.Error!.Message);
        Assert.DoesNotContain("`serverless enqueue`", message.Error.Message);
    }

    [Theory]
    [InlineData("hi")]
    [InlineData("Translate to German: How old are you?")]
    [InlineData("""{"prompt": "hello"}""")]
    public void Base64_of_text_is_detected(string original)
    {
        var message = QueueMessageReader.Read(Convert.ToBase64String(Encoding.UTF8.GetBytes(original)), "m2");
        Assert.Equal(MessageKind.Invalid, message.Kind);
        Assert.Contains("Base64", message.Error!.Message);
    }

    [Fact]
    public void Json_object_without_spec_keys_is_the_prompt_itself()
    {
        var message = QueueMessageReader.Read("""{"text": "hello"}""", "m3");
        Assert.Equal(MessageKind.Prompt, message.Kind);
    }

    [Fact]
    public void Spec_with_a_bad_id_is_invalid()
    {
        var message = QueueMessageReader.Read("""{"id": "../etc", "prompt": "x"}""", "m4");
        Assert.Equal(MessageKind.Invalid, message.Kind);
        Assert.Equal("m4", message.JobId);
    }
}
