using Microsoft.Extensions.AI;
using Serverless.Inference.Chat;
using Serverless.Inference.Generation;

namespace Serverless.Inference.PackageTests;

/// <summary>A response's usage: tokens as the model's tokenizer counts them.</summary>
[Collection(DemoModelCollection.Name)]
public sealed class ChatClientUsageTests(DemoModelFixture demo)
{
    [Theory]
    [InlineData("Where is Ganymede?")]
    [InlineData("Translate to German: good morning")]
    public async Task Input_tokens_are_the_tokenizer_s_count_of_the_templated_prompt(string question)
    {
        ChatMessage[] messages = [new(ChatRole.System, "Answer briefly."), new(ChatRole.User, question)];
        var response = await demo.Client.GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = 8 });

        var prompt = ChatTemplate.Format([new("system", "Answer briefly."), new("user", question)]);
        Assert.Equal(demo.Model.Tokenizer.CountTokens(prompt, addEndOfSentence: true), response.Usage?.InputTokenCount);
    }

    [Theory]
    [InlineData("Where is Ganymede?", 64)]
    [InlineData("Translate to German: good morning", 64)] // ends with </s>, which is counted
    public async Task Output_tokens_are_the_generated_ids_which_the_tokenizer_decodes_to_the_text(string question, int maxTokens)
    {
        var response = await demo.Client.GetResponseAsync(question, new ChatOptions { MaxOutputTokens = maxTokens });

        var result = Assert.IsType<GenerationResult>(response.RawRepresentation);
        Assert.Equal(result.OutputIds.Count, response.Usage?.OutputTokenCount);
        Assert.Equal(response.Text, demo.Model.Tokenizer.Decode(result.OutputIds.ToArray()));
        Assert.Equal(response.Usage?.InputTokenCount + response.Usage?.OutputTokenCount, response.Usage?.TotalTokenCount);
    }

    [Fact]
    public async Task Streamed_usage_counts_one_output_token_per_generated_id()
    {
        var tokens = 0;
        UsageDetails? usage = null;
        var stream = demo.Model.StartTokenStream("Translate to German: good morning", demo.Model.DefaultGenerationOptions with { MaxNewTokens = 64 });
        await foreach (var token in stream.ReadAllAsync())
            tokens++;
        await foreach (var update in demo.Client.GetStreamingResponseAsync("Translate to German: good morning", new ChatOptions { MaxOutputTokens = 64 }))
            usage = update.Contents.OfType<UsageContent>().SingleOrDefault()?.Details ?? usage;

        Assert.Equal(tokens, usage?.OutputTokenCount);
    }
}
