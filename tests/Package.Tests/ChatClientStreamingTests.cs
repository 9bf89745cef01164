using System.Text;
using Microsoft.Extensions.AI;

namespace Serverless.Inference.PackageTests;

/// <summary>T5ChatClient.GetStreamingResponseAsync: the same text as the non-streaming call, piece by piece.</summary>
[Collection(DemoModelCollection.Name)]
public sealed class ChatClientStreamingTests(DemoModelFixture demo)
{
    public static TheoryData<string, int> GreedyCases => new()
    {
        { "Where is Ganymede?", 1 },
        { "Translate to German: good morning", 1 },
        { "The quick brown fox", 3 }, // beam search: the text arrives when the search ends
    };

    [Theory]
    [MemberData(nameof(GreedyCases))]
    public async Task Streaming_gives_the_text_of_the_non_streaming_response_for_greedy_settings(string prompt, int beams)
    {
        var options = new ChatOptions { MaxOutputTokens = 40, AdditionalProperties = new() { ["num_beams"] = beams } };
        var response = await demo.Client.GetResponseAsync(prompt, options);

        var streamed = new StringBuilder();
        var updates = 0;
        await foreach (var update in demo.Client.GetStreamingResponseAsync(prompt, options))
        {
            streamed.Append(update.Text);
            updates++;
        }
        Assert.Equal(response.Text, streamed.ToString());
        Assert.True(beams > 1 || updates > 2, $"Greedy search streamed {updates} updates; expected one per token.");
    }

    [Fact]
    public async Task The_last_update_carries_the_finish_reason_and_the_usage_of_the_non_streaming_response()
    {
        var options = new ChatOptions { MaxOutputTokens = 8 };
        var response = await demo.Client.GetResponseAsync("Where is Ganymede?", options);

        var updates = await demo.Client.GetStreamingResponseAsync("Where is Ganymede?", options).ToListAsync();
        var last = updates[^1];
        Assert.Equal(response.FinishReason, last.FinishReason);
        var usage = Assert.Single(last.Contents.OfType<UsageContent>()).Details;
        Assert.Equal(response.Usage?.InputTokenCount, usage.InputTokenCount);
        Assert.Equal(response.Usage?.OutputTokenCount, usage.OutputTokenCount);
        Assert.All(updates[..^1], u => Assert.Null(u.FinishReason));
        Assert.Single(updates.Select(u => u.ResponseId).Distinct());
        Assert.All(updates, u => Assert.Equal("demo", u.ModelId));
    }

    [Fact]
    public async Task Cancelling_mid_stream_throws_operation_cancelled_and_stops_generating()
    {
        using var cancel = new CancellationTokenSource();
        var options = new ChatOptions { MaxOutputTokens = 500, AdditionalProperties = new() { ["min_new_tokens"] = 500 } };
        var received = 0;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var update in demo.Client.GetStreamingResponseAsync("Where is Ganymede?", options, cancel.Token))
            {
                if (++received == 3)
                    await cancel.CancelAsync();
            }
        });

        // The stream ended well before the 500 tokens it was asked for, and the client serves the next call.
        Assert.InRange(received, 3, 100);
        var next = await demo.Client.GetResponseAsync("Where is Ganymede?", new ChatOptions { MaxOutputTokens = 4 });
        Assert.Equal(4, next.Usage?.OutputTokenCount);
    }

    [Fact]
    public async Task Leaving_the_stream_early_ends_the_generation_without_an_error()
    {
        var options = new ChatOptions { MaxOutputTokens = 500, AdditionalProperties = new() { ["min_new_tokens"] = 500 } };
        await foreach (var update in demo.Client.GetStreamingResponseAsync("Where is Ganymede?", options))
            break;

        var next = await demo.Client.GetResponseAsync("Where is Ganymede?", new ChatOptions { MaxOutputTokens = 4 });
        Assert.Equal(4, next.Usage?.OutputTokenCount);
    }
}
