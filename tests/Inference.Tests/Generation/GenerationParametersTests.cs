using System.Text.Json;
using Serverless.Inference.Generation;

namespace Serverless.Inference.Tests.Generation;

/// <summary>The one table of Hugging Face generate parameters: complete, readable from JSON and text, and self-describing.</summary>
public sealed class GenerationParametersTests
{
    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();

    [Fact]
    public void Every_option_has_exactly_one_entry()
    {
        // A new GenerationOptions property without a table entry could not be set by a job, the CLI or generation_config.json.
        var properties = typeof(GenerationOptions).GetProperties().Count(p => p.CanWrite);
        Assert.Equal(properties, GenerationParameters.All.Count);
        Assert.Equal(GenerationParameters.All.Count, GenerationParameters.All.Select(p => p.Name).Distinct().Count());
        foreach (var parameter in GenerationParameters.All)
        {
            // Setting each parameter to a non-default value changes exactly that parameter.
            var before = parameter.ValueOf(new GenerationOptions());
            var value = parameter.Type switch
            {
                GenerationParameterType.Integer => Json("3"),
                GenerationParameterType.Number => Json("0.5"),
                GenerationParameterType.Boolean => Json("true"),
                GenerationParameterType.String => Json("\"keep_end\""),
                _ => Json("[\"x\"]"),
            };
            var set = GenerationParameters.Apply(new GenerationOptions(), Json($"{{\"{parameter.Name}\": {value.GetRawText()}}}"),
                (name, error) => Assert.Fail($"{name}: {error}"));
            Assert.NotEqual(JsonSerializer.Serialize(before), JsonSerializer.Serialize(parameter.ValueOf(set)));
            foreach (var other in GenerationParameters.All.Where(o => o != parameter))
                Assert.Equal(JsonSerializer.Serialize(other.ValueOf(new GenerationOptions())), JsonSerializer.Serialize(other.ValueOf(set)));
        }
    }

    [Fact]
    public void Metadata_describes_defaults_and_ranges()
    {
        Assert.True(GenerationParameters.TryGet("top_p", out var topP));
        Assert.Equal(GenerationParameterType.Number, topP.Type);
        Assert.Equal(1.0, topP.Default);
        Assert.Equal(0, topP.Minimum);
        Assert.True(topP.MinimumExclusive);
        Assert.Equal(1, topP.Maximum);
        Assert.True(GenerationParameters.TryGet("truncation", out var truncation));
        Assert.Equal("none", truncation.Default);
        Assert.Equal(["none", "keep_start", "keep_end"], truncation.AllowedValues);
        Assert.All(GenerationParameters.All, p => Assert.False(string.IsNullOrWhiteSpace(p.Description)));
        Assert.False(GenerationParameters.TryGet("max_tokens", out _));
    }

    [Fact]
    public void Apply_keeps_the_baseline_for_null_and_reports_unknown_names_and_wrong_types()
    {
        var baseline = new GenerationOptions { MaxNewTokens = 7, NumBeams = 3 };
        var errors = new List<(string, string)>();
        var options = GenerationParameters.Apply(baseline,
            Json("""{"max_new_tokens": null, "top_k": "many", "max_tokens": 5, "temperature": 0.5}"""), (n, e) => errors.Add((n, e)));
        Assert.Equal(7, options.MaxNewTokens);
        Assert.Equal(3, options.NumBeams);
        Assert.Equal(0.5, options.Temperature);
        Assert.Equal(baseline.TopK, options.TopK);
        Assert.Equal([("top_k", "Must be an integer."), ("max_tokens", GenerationParameters.UnknownMessage)], errors);
        Assert.Contains("no_repeat_ngram_size", GenerationParameters.UnknownMessage);
    }

    [Fact]
    public void Generation_config_sets_defaults_and_ignores_other_keys_and_wrong_types()
    {
        var options = GenerationParameters.FromGenerationConfig(Json(
            """{"decoder_start_token_id": 0, "eos_token_id": 1, "num_beams": 4, "max_new_tokens": "many", "early_stopping": true, "truncation": "keep_end"}"""));
        Assert.Equal(new GenerationOptions { NumBeams = 4, EarlyStopping = true }, options with { StopStrings = new GenerationOptions().StopStrings });
        Assert.Equal(Truncation.None, options.Truncation);
    }

    [Theory]
    [InlineData("max_new_tokens=64", "max_new_tokens", "64")]
    [InlineData("do_sample=true", "do_sample", "true")]
    [InlineData("truncation=keep_start", "truncation", "\"keep_start\"")]
    [InlineData("stop_strings=[\"a\",\"b\"]", "stop_strings", "[\"a\",\"b\"]")]
    [InlineData(" top_p =0.9", "top_p", "0.9")]
    [InlineData("stop_strings=a=b", "stop_strings", "\"a=b\"")]
    public void Assignment_text_is_read_as_json_or_as_a_string(string text, string name, string json)
    {
        (var parsedName, var value) = GenerationParameters.ParseAssignment(text);
        Assert.Equal(name, parsedName);
        Assert.Equal(json, value.GetRawText());
    }

    [Theory]
    [InlineData("max_new_tokens")]
    [InlineData("=5")]
    public void Assignment_without_a_name_and_value_is_rejected(string text)
    {
        var e = Assert.Throws<ArgumentException>(() => GenerationParameters.ParseAssignment(text));
        Assert.Contains("is not name=value", e.Message);
    }
}
