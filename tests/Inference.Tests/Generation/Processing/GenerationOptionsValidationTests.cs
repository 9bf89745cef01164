using Serverless.Inference.Generation;

namespace Serverless.Inference.Tests.Generation.Processing;

public class GenerationOptionsValidationTests
{
    private const int Ceiling = 512;

    [Fact]
    public void Defaults_are_valid()
    {
        Assert.Empty(new GenerationOptions().Validate(Ceiling));
    }

    [Fact]
    public void Edges_of_every_range_are_valid()
    {
        var options = new GenerationOptions
        {
            MaxNewTokens = Ceiling,
            MinNewTokens = Ceiling,
            DoSample = true,
            Temperature = 1e-3,
            TopK = 0,
            TopP = 1.0,
            Seed = ulong.MaxValue,
            NumBeams = 1,
            LengthPenalty = -3,
            RepetitionPenalty = 1e-3,
            NoRepeatNgramSize = 0,
            StopStrings = Enumerable.Range(0, 8).Select(i => new string('x', i == 0 ? 1 : 100)).ToArray(),
            Truncation = Truncation.KeepEnd,
        };
        Assert.Empty(options.Validate(Ceiling));
        Assert.Empty(new GenerationOptions { MaxNewTokens = 1, NumBeams = 16, TopP = 1e-9, TopK = 100000 }.Validate(Ceiling));
    }

    [Fact]
    public void Message_names_the_parameter_its_range_and_the_value()
    {
        var error = Assert.Single(new GenerationOptions { MaxNewTokens = 0 }.Validate(Ceiling));
        Assert.Equal("max_new_tokens", error.Parameter);
        Assert.Equal("max_new_tokens must be between 1 and 512 (got 0)", error.Message);
    }

    public static TheoryData<GenerationOptions, string, string> Invalid => new()
    {
        // options, parameter, text the message must contain (the allowed range and the value)
        { new() { MaxNewTokens = 513 }, "max_new_tokens", "between 1 and 512 (got 513)" },
        { new() { MaxNewTokens = -4 }, "max_new_tokens", "between 1 and 512 (got -4)" },
        { new() { MinNewTokens = -1 }, "min_new_tokens", "between 0 and max_new_tokens (64) (got -1)" },
        { new() { MaxNewTokens = 10, MinNewTokens = 11 }, "min_new_tokens", "between 0 and max_new_tokens (10) (got 11)" },
        { new() { Temperature = 0 }, "temperature", "finite number greater than 0 (got 0)" },
        { new() { Temperature = -0.5 }, "temperature", "greater than 0 (got -0.5)" },
        { new() { Temperature = double.NaN }, "temperature", "(got NaN)" },
        { new() { Temperature = double.PositiveInfinity }, "temperature", "finite" },
        { new() { TopK = -1 }, "top_k", "at least 0, where 0 turns top-k filtering off (got -1)" },
        { new() { TopP = 0 }, "top_p", "greater than 0 and at most 1 (got 0)" },
        { new() { TopP = 1.5 }, "top_p", "greater than 0 and at most 1 (got 1.5)" },
        { new() { TopP = double.NaN }, "top_p", "(got NaN)" },
        { new() { NumBeams = 0 }, "num_beams", "between 1 and 16 (got 0)" },
        { new() { NumBeams = 17 }, "num_beams", "between 1 and 16 (got 17)" },
        { new() { NumBeams = 4, DoSample = true }, "num_beams", "must be 1 when do_sample is true" },
        { new() { LengthPenalty = double.NaN }, "length_penalty", "finite number (got NaN)" },
        { new() { LengthPenalty = double.NegativeInfinity }, "length_penalty", "finite number (got -Infinity)" },
        { new() { RepetitionPenalty = 0 }, "repetition_penalty", "greater than 0, where 1 turns it off (got 0)" },
        { new() { RepetitionPenalty = -1.2 }, "repetition_penalty", "(got -1.2)" },
        { new() { RepetitionPenalty = double.PositiveInfinity }, "repetition_penalty", "finite" },
        { new() { NoRepeatNgramSize = -1 }, "no_repeat_ngram_size", "at least 0, where 0 turns it off (got -1)" },
        { new() { StopStrings = Enumerable.Repeat("x", 9).ToArray() }, "stop_strings", "at most 8 strings (got 9)" },
        { new() { StopStrings = ["ok", ""] }, "stop_strings", "must hold strings between 1 and 100 characters long (entry 1 has 0)" },
        { new() { StopStrings = [new string('y', 101)] }, "stop_strings", "must hold strings between 1 and 100 characters long (entry 0 has 101)" },
        { new() { StopStrings = [null!] }, "stop_strings", "(entry 0 has 0)" },
        { new() { Truncation = (Truncation)7 }, "truncation", "none, keep_start or keep_end (got 7)" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Each_out_of_range_parameter_is_reported_by_name(GenerationOptions options, string parameter, string fragment)
    {
        var error = Assert.Single(options.Validate(Ceiling));
        Assert.Equal(parameter, error.Parameter);
        Assert.StartsWith(parameter + " must ", error.Message);
        Assert.Contains(fragment, error.Message);
    }

    [Fact]
    public void All_errors_are_returned_at_once()
    {
        var options = new GenerationOptions
        {
            MaxNewTokens = 0,
            MinNewTokens = -1,
            Temperature = 0,
            TopK = -1,
            TopP = 2,
            NumBeams = 99,
            LengthPenalty = double.NaN,
            RepetitionPenalty = 0,
            NoRepeatNgramSize = -2,
            StopStrings = ["", new string('z', 200)],
            Truncation = (Truncation)(-1),
        };
        var parameters = options.Validate(Ceiling).Select(e => e.Parameter).ToArray();
        Assert.Equal(
            ["max_new_tokens", "min_new_tokens", "temperature", "top_k", "top_p", "num_beams", "length_penalty",
             "repetition_penalty", "no_repeat_ngram_size", "stop_strings", "stop_strings", "truncation"],
            parameters);
    }

    [Fact]
    public void The_ceiling_comes_from_the_host()
    {
        Assert.Single(new GenerationOptions { MaxNewTokens = 64 }.Validate(32));
        Assert.Contains("between 1 and 32 (got 64)", new GenerationOptions { MaxNewTokens = 64 }.Validate(32)[0].Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new GenerationOptions().Validate(0));
    }

    [Fact]
    public void Null_stop_string_list_counts_as_empty()
    {
        Assert.Empty(new GenerationOptions { StopStrings = null! }.Validate(Ceiling));
    }
}
