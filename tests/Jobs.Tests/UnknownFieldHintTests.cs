using System.Text.Json;
using Serverless.Inference.Generation;
using Serverless.Jobs.Specs;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary>An unknown field's message lists every field the request may hold and suggests the nearest to a typo.</summary>
public sealed class UnknownFieldHintTests
{
    [Fact]
    public async Task The_jobs_api_lists_callback_url_among_the_fields_it_takes()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var reply = await host.SubmitAsync("""{"prompt": "hi", "callback": "https://example.com/hook"}""");

        Assert.Equal(400, reply.Status);
        var message = reply.Body.GetProperty("errors").GetProperty("callback")[0].GetString()!;
        Assert.Contains("callback_url", message);
        Assert.Contains("parameters", message);
    }

    [Fact]
    public void The_completions_request_lists_stream_among_the_fields_it_takes()
    {
        var errors = Read("""{"prompt": "hi", "strem": true}""", extra: ["stream"]);
        var message = errors["strem"].Single();
        Assert.Contains("stream", message);
        Assert.Contains("Did you mean 'stream'?", message);
    }

    [Theory]
    [InlineData("temprature", "temperature")]
    [InlineData("max_tokens", "max_new_tokens")]
    [InlineData("top-p", "top_p")]
    [InlineData("num_beam", "num_beams")]
    public void A_mistyped_parameter_gets_the_name_it_meant(string typo, string meant)
    {
        var errors = Read("{\"prompt\": \"hi\", \"parameters\": {\"" + typo + "\": 1}}");
        var message = errors[$"parameters.{typo}"].Single();
        Assert.Contains($"Did you mean '{meant}'?", message);
        foreach (var parameter in GenerationParameters.All) Assert.Contains(parameter.Name, message); // every name, from the one table
    }

    [Fact]
    public void A_word_that_is_no_near_miss_gets_no_guess()
    {
        var errors = Read("""{"prompt": "hi", "parameters": {"colour": 1}}""");
        Assert.DoesNotContain("Did you mean", errors["parameters.colour"].Single());
    }

    [Fact]
    public void A_parameter_at_the_top_level_is_pointed_into_parameters()
    {
        var errors = Read("""{"prompt": "hi", "temperature": 0.5}""");
        Assert.Contains("Did you mean 'temperature' inside \"parameters\"?", errors["temperature"].Single());
    }

    private static IReadOnlyDictionary<string, string[]> Read(string json, string[]? extra = null)
    {
        using var document = JsonDocument.Parse(json);
        var errors = new SpecErrors();
        var names = extra ?? [];
        JobSpecReader.Read(document.RootElement, allowId: false, 16, 512, errors, p => names.Contains(p.Name), extraFieldNames: names);
        Assert.True(errors.Any);
        return errors.ToDictionary();
    }
}
