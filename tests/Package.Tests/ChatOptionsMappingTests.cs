using System.Text.Json;
using Microsoft.Extensions.AI;
using Serverless.Inference.Generation;

namespace Serverless.Inference.PackageTests;

/// <summary>
/// Each ChatOptions member and each Hugging Face name in AdditionalProperties changes the generation as the engine's own
/// parameter does: the client's text is compared with the engine's for the GenerationOptions the option stands for, and
/// with the default text it should differ from.
/// </summary>
[Collection(DemoModelCollection.Name)]
public sealed class ChatOptionsMappingTests(DemoModelFixture demo)
{
    private const string Question = "Where is Ganymede?";
    private const int Tokens = 24;

    [Fact]
    public async Task Max_output_tokens_is_the_most_tokens_generated()
    {
        var response = await Ask(new ChatOptions { MaxOutputTokens = 3 });

        Assert.Equal(3, response.Usage?.OutputTokenCount);
        Assert.Equal(await Engine(o => o with { MaxNewTokens = 3 }), response.Text);
    }

    [Fact]
    public async Task Temperature_zero_is_greedy_search()
    {
        var response = await Ask(new ChatOptions { MaxOutputTokens = Tokens, Temperature = 0, Seed = 7 });

        Assert.Equal(await Engine(o => o), response.Text);
    }

    [Fact]
    public async Task A_temperature_above_zero_samples_at_that_temperature()
    {
        var response = await Ask(new ChatOptions { MaxOutputTokens = Tokens, Temperature = 1.5f, Seed = 7 });

        Assert.Equal(await Engine(o => o with { DoSample = true, Temperature = 1.5f, Seed = 7 }), response.Text);
        Assert.NotEqual(await Engine(o => o with { DoSample = true, Temperature = 0.5, Seed = 7 }), response.Text);
        Assert.NotEqual(await Engine(o => o), response.Text);
    }

    [Fact]
    public async Task The_same_seed_samples_the_same_text_and_another_seed_another()
    {
        var first = await Ask(new ChatOptions { MaxOutputTokens = Tokens, Temperature = 1.5f, Seed = 11 });
        var again = await Ask(new ChatOptions { MaxOutputTokens = Tokens, Temperature = 1.5f, Seed = 11 });
        var other = await Ask(new ChatOptions { MaxOutputTokens = Tokens, Temperature = 1.5f, Seed = 12 });

        Assert.Equal(first.Text, again.Text);
        Assert.NotEqual(first.Text, other.Text);
    }

    [Fact]
    public async Task Top_k_of_one_makes_sampling_take_the_most_likely_token()
    {
        var response = await Ask(new ChatOptions { MaxOutputTokens = Tokens, Temperature = 1.5f, Seed = 7, TopK = 1 });

        Assert.Equal(await Engine(o => o), response.Text);
    }

    [Fact]
    public async Task A_tiny_top_p_makes_sampling_take_the_most_likely_token()
    {
        var response = await Ask(new ChatOptions { MaxOutputTokens = Tokens, Temperature = 1.5f, Seed = 7, TopP = 1e-6f });

        Assert.Equal(await Engine(o => o), response.Text);
    }

    [Fact]
    public async Task A_stop_sequence_cuts_the_text_before_it_and_finishes_with_stop()
    {
        var greedy = await Engine(o => o);
        var stop = greedy.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3];

        var response = await Ask(new ChatOptions { MaxOutputTokens = Tokens, StopSequences = [stop] });

        Assert.Equal(greedy[..greedy.IndexOf(stop, StringComparison.Ordinal)], response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
    }

    public static TheoryData<string, object, string> HuggingFaceParameters => new()
    {
        // name, value (as a caller would put it in AdditionalProperties), GenerationOptions it stands for (by name below)
        { "num_beams", 3, "beams" },
        { "repetition_penalty", 3.0, "repetition" },
        { "no_repeat_ngram_size", 1, "ngram" },
        { "do_sample", true, "sample" },
        { "min_new_tokens", 20, "min" },
        { "length_penalty", JsonSerializer.SerializeToElement(-3.0), "length" },
    };

    [Theory]
    [MemberData(nameof(HuggingFaceParameters))]
    public async Task Additional_properties_set_the_engine_parameter_of_their_hugging_face_name(string name, object value, string expected)
    {
        // length_penalty only matters to beam search among finished hypotheses of different lengths (here: one of 35
        // tokens against 64 that reach the limit); do_sample is made reproducible with a seed; min_new_tokens shows on a
        // prompt the demo model ends early (4 tokens).
        var prompt = name == "min_new_tokens" ? "a" : Question;
        var tokens = name == "length_penalty" ? 64 : Tokens;
        var extra = new AdditionalPropertiesDictionary { [name] = value };
        if (name == "length_penalty")
            extra["num_beams"] = 4;
        var chatOptions = new ChatOptions { MaxOutputTokens = tokens, Seed = name == "do_sample" ? 5 : null, AdditionalProperties = extra };

        var response = await demo.Client.GetResponseAsync(prompt, chatOptions);

        Func<GenerationOptions, GenerationOptions> set = expected switch
        {
            "beams" => o => o with { NumBeams = 3 },
            "repetition" => o => o with { RepetitionPenalty = 3.0 },
            "ngram" => o => o with { NoRepeatNgramSize = 1 },
            "sample" => o => o with { DoSample = true, Seed = 5 },
            "min" => o => o with { MinNewTokens = 20 },
            "length" => o => o with { NumBeams = 4, LengthPenalty = -3.0 },
            _ => throw new ArgumentOutOfRangeException(nameof(expected)),
        };
        Assert.Equal(await Engine(set, prompt, tokens), response.Text);
        var unchanged = name == "length_penalty" ? await Engine(o => o with { NumBeams = 4 }, prompt, tokens) : await Engine(o => o, prompt);
        Assert.NotEqual(unchanged, response.Text);
    }

    [Fact]
    public async Task Additional_properties_win_over_the_typed_options()
    {
        var response = await Ask(new ChatOptions { MaxOutputTokens = 5, AdditionalProperties = new() { ["max_new_tokens"] = 7 } });

        Assert.Equal(7, response.Usage?.OutputTokenCount);
    }

    [Fact]
    public async Task Additional_properties_the_engine_does_not_know_are_ignored()
    {
        var response = await Ask(new ChatOptions { MaxOutputTokens = Tokens, AdditionalProperties = new() { ["user"] = "someone" } });

        Assert.Equal(await Engine(o => o), response.Text);
    }

    [Fact]
    public async Task An_additional_property_of_the_wrong_type_is_refused_naming_it()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() =>
            Ask(new ChatOptions { AdditionalProperties = new() { ["num_beams"] = "three" } }));

        Assert.Contains("AdditionalProperties[\"num_beams\"]", error.Message);
    }

    [Fact]
    public async Task An_option_out_of_range_is_refused_by_the_engine_naming_its_parameter()
    {
        var error = await Assert.ThrowsAsync<InvalidGenerationOptionsException>(() => Ask(new ChatOptions { TopP = 2 }));

        Assert.Contains("top_p", error.Message);
    }

    [Fact]
    public async Task Frequency_penalty_is_the_engines_additive_frequency_penalty()
    {
        // min_new_tokens keeps the completion long enough to repeat itself, where the penalty shows.
        var response = await Ask(new ChatOptions { MaxOutputTokens = 40, FrequencyPenalty = 2, AdditionalProperties = new() { ["min_new_tokens"] = 40 } });

        Assert.Equal(await Engine(o => o with { FrequencyPenalty = 2, MinNewTokens = 40 }, maxNewTokens: 40), response.Text);
        Assert.NotEqual(await Engine(o => o with { MinNewTokens = 40 }, maxNewTokens: 40), response.Text);
    }

    [Fact]
    public async Task Presence_penalty_is_the_engines_additive_presence_penalty()
    {
        var response = await Ask(new ChatOptions { MaxOutputTokens = 40, PresencePenalty = 2, AdditionalProperties = new() { ["min_new_tokens"] = 40 } });

        Assert.Equal(await Engine(o => o with { PresencePenalty = 2, MinNewTokens = 40 }, maxNewTokens: 40), response.Text);
        Assert.NotEqual(await Engine(o => o with { MinNewTokens = 40 }, maxNewTokens: 40), response.Text);
    }

    [Fact]
    public async Task A_penalty_outside_minus_two_to_two_is_refused_by_the_engine_naming_its_parameter()
    {
        var error = await Assert.ThrowsAsync<InvalidGenerationOptionsException>(() => Ask(new ChatOptions { FrequencyPenalty = 3 }));

        Assert.Contains("frequency_penalty", error.Message);
    }

    private Task<ChatResponse> Ask(ChatOptions options) => demo.Client.GetResponseAsync(Question, options);

    private async Task<string> Engine(Func<GenerationOptions, GenerationOptions> set, string prompt = Question, int maxNewTokens = Tokens) =>
        (await demo.Model.GenerateAsync([prompt], set(demo.Model.DefaultGenerationOptions with { MaxNewTokens = maxNewTokens })))[0].Text;
}
