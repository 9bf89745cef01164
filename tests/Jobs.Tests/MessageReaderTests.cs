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

    [Theory]
    [InlineData("{\"prompt\": \"x\",")]                // a truncated file
    [InlineData("  \n{\"prompt\": \"x\"")]               // blanks first
    [InlineData("\uFEFF{\"prompt\": \"x\", \"parameters\": {")] // a byte order mark first
    [InlineData("{ 'prompt': 'x' ")]                    // single quotes are not JSON
    [InlineData("{prompt: x}")]                         // ends with a brace: meant as an object
    public void A_message_that_starts_like_a_json_object_but_does_not_parse_is_invalid_naming_where(string text)
    {
        var message = QueueMessageReader.Read(text, "m5");
        Assert.Equal(MessageKind.Invalid, message.Kind);
        Assert.Matches(@"not valid JSON at line \d+, position \d+: ", message.Error!.Message);
        Assert.DoesNotContain("LineNumber", message.Error.Message); // the parser's own suffix is restated once, 1-based
    }

    [Theory]
    [InlineData("{x} is a placeholder; fill it in")]
    [InlineData("Translate {this} to German")]
    [InlineData("{{name}} greets {{other}}: write the greeting")]
    public void Text_that_merely_contains_braces_stays_a_prompt(string text)
    {
        Assert.Equal(MessageKind.Prompt, QueueMessageReader.Read(text, "m6").Kind);
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
