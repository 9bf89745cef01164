using Serverless.Inference.Generation;
using Serverless.Inference.Generation.Processing;

namespace Serverless.Inference.Tests.Generation.Processing;

/// <summary>OpenAI's frequency_penalty and presence_penalty as logits processors: score − count × frequency − presence
/// (once generated), over the generated tokens only, after repetition_penalty (vLLM's order).</summary>
public sealed class OccurrencePenaltiesTests
{
    private static float[] Run(GenerationOptions options, float[] logits, int[] generated, int eos = 4)
    {
        var row = (float[])logits.Clone();
        LogitsProcessorPipeline.Create(options, eos).Process(row, generated);
        return row;
    }

    [Fact]
    public void Frequency_penalty_lowers_each_generated_token_by_its_count_times_the_penalty()
    {
        // Generated: 2 three times, 3 once; 0 is the decoder start token and does not count.
        var result = Run(new GenerationOptions { FrequencyPenalty = 0.5 }, [1f, 1f, 1f, 1f, 1f], [2, 3, 2, 2]);

        Assert.Equal([1f, 1f, 1f - 3 * 0.5f, 1f - 0.5f, 1f], result);
    }

    [Fact]
    public void Presence_penalty_lowers_each_generated_token_once_however_often_it_occurred()
    {
        var result = Run(new GenerationOptions { PresencePenalty = 0.75 }, [2f, -1f, 4f, 0.5f, 3f], [2, 3, 2, 2]);

        Assert.Equal([2f, -1f, 4f - 0.75f, 0.5f - 0.75f, 3f], result);
    }

    [Fact]
    public void Both_penalties_add_up_and_negative_values_encourage_repeats()
    {
        var result = Run(new GenerationOptions { FrequencyPenalty = -1, PresencePenalty = 0.25 }, [0f, 0f, 0f, 0f, 0f], [1, 1, 3]);

        Assert.Equal([0f, 0f + 2 - 0.25f, 0f, 0f + 1 - 0.25f, 0f], result);
    }

    [Fact]
    public void They_apply_after_repetition_penalty_as_vllm_orders_them()
    {
        // repetition_penalty 2 halves token 2's positive score (and the decoder start's), then the additive penalties.
        var result = Run(new GenerationOptions { RepetitionPenalty = 2, FrequencyPenalty = 1, PresencePenalty = 0.5 }, [4f, 4f, 4f, 4f, 4f], [2, 2]);

        Assert.Equal([2f, 4f, 4f / 2 - 2 * 1f - 0.5f, 4f, 4f], result);
    }

    [Fact]
    public void Counts_start_again_at_every_call_and_ids_beyond_the_row_are_ignored()
    {
        var pipeline = LogitsProcessorPipeline.Create(new GenerationOptions { FrequencyPenalty = 1 }, 9);
        float[] first = [0f, 0f, 0f];
        pipeline.Process(first, [1, 1, 7]);
        float[] second = [0f, 0f, 0f];
        pipeline.Process(second, [2]);

        Assert.Equal([0f, -2f, 0f], first);
        Assert.Equal([0f, 0f, -1f], second);
    }

    [Theory]
    [InlineData("frequency_penalty", 2.5)]
    [InlineData("presence_penalty", -2.01)]
    public void Values_outside_minus_two_to_two_are_refused_naming_the_parameter(string name, double value)
    {
        var options = name == "frequency_penalty" ? new GenerationOptions { FrequencyPenalty = value } : new GenerationOptions { PresencePenalty = value };

        var error = Assert.Single(options.Validate(512));

        Assert.Equal(name, error.Parameter);
        Assert.Contains("-2 to 2", error.Message, StringComparison.Ordinal);
    }
}
