using Microsoft.Extensions.AI;
using Serverless.Inference.Chat;
using Serverless.Inference.Generation;

namespace Serverless.Inference.PackageTests;

/// <summary>T5ChatClient.GetResponseAsync: the engine's completion of the chat template's prompt, as a ChatResponse.</summary>
[Collection(DemoModelCollection.Name)]
public sealed class ChatClientResponseTests(DemoModelFixture demo)
{
    private const string Question = "Where is Ganymede?";

    [Fact]
    public async Task A_single_user_message_is_answered_with_the_text_the_engine_generates_for_it()
    {
        var response = await demo.Client.GetResponseAsync(Question, new ChatOptions { MaxOutputTokens = 12 });

        var expected = await Engine(Question, maxNewTokens: 12);
        Assert.Equal(expected.Text, response.Text);
        Assert.NotEmpty(response.Text);
        var message = Assert.Single(response.Messages);
        Assert.Equal(ChatRole.Assistant, message.Role);
        Assert.Equal("demo", response.ModelId);
        Assert.NotNull(response.ResponseId);
    }

    [Fact]
    public async Task A_conversation_is_completed_as_the_chat_template_spells_it()
    {
        ChatMessage[] messages =
        [
            new(ChatRole.System, "Answer briefly."),
            new(ChatRole.User, "Where is Ganymede?"),
            new(ChatRole.Assistant, "Near Jupiter."),
            new(ChatRole.User, "And Titan?"),
        ];
        var response = await demo.Client.GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = 12 });

        var prompt = ChatTemplate.Format(
            [new("system", "Answer briefly."), new("user", "Where is Ganymede?"), new("assistant", "Near Jupiter."), new("user", "And Titan?")]);
        Assert.Equal((await Engine(prompt, maxNewTokens: 12)).Text, response.Text);
    }

    [Fact]
    public async Task Instructions_are_a_system_message_after_the_conversation_s_own()
    {
        ChatMessage[] messages = [new(ChatRole.System, "Be kind."), new(ChatRole.User, Question)];
        var response = await demo.Client.GetResponseAsync(messages, new ChatOptions { Instructions = "Answer briefly.", MaxOutputTokens = 12 });

        Assert.Equal((await Engine($"Be kind.\n\nAnswer briefly.\n\n{Question}", maxNewTokens: 12)).Text, response.Text);
        Assert.NotEqual((await Engine($"Be kind.\n\n{Question}", maxNewTokens: 12)).Text, response.Text);
    }

    [Fact]
    public async Task An_answer_that_ends_with_end_of_sequence_finishes_with_stop()
    {
        // The demo model ends this prompt with </s> after 30 tokens (well within max_new_tokens).
        const string prompt = "Translate to German: good morning";
        Assert.Equal(FinishReason.Eos, (await Engine(prompt, maxNewTokens: 64)).FinishReason);

        var response = await demo.Client.GetResponseAsync(prompt, new ChatOptions { MaxOutputTokens = 64 });
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
    }

    [Fact]
    public async Task An_answer_cut_at_max_output_tokens_finishes_with_length()
    {
        var response = await demo.Client.GetResponseAsync(Question, new ChatOptions { MaxOutputTokens = 5 });

        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        Assert.Equal(5, response.Usage?.OutputTokenCount);
    }

    [Fact]
    public async Task A_message_with_an_image_is_refused_naming_the_message()
    {
        ChatMessage[] messages = [new(ChatRole.User, [new TextContent("What is this?"), new DataContent(new byte[] { 1, 2, 3 }, "image/png")])];

        var error = await Assert.ThrowsAsync<ArgumentException>(() => demo.Client.GetResponseAsync(messages));
        Assert.Contains("messages[0]", error.Message);
    }

    [Fact]
    public async Task A_conversation_that_ends_with_the_assistant_is_refused()
    {
        ChatMessage[] messages = [new(ChatRole.User, Question), new(ChatRole.Assistant, "Near")];

        var error = await Assert.ThrowsAsync<ArgumentException>(() => demo.Client.GetResponseAsync(messages));
        Assert.Contains("last message must be the user's", error.Message);
    }

    [Fact]
    public async Task Cancelling_before_the_call_throws_operation_cancelled()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => demo.Client.GetResponseAsync(Question, cancellationToken: cancelled.Token));
    }

    private async Task<GenerationResult> Engine(string prompt, int maxNewTokens) =>
        (await demo.Model.GenerateAsync([prompt], demo.Model.DefaultGenerationOptions with { MaxNewTokens = maxNewTokens }))[0];
}
