using System.Text.Json;
using Serverless.Inference.Generation;
using Serverless.Jobs.OpenAi;

namespace Serverless.Jobs.Tests.OpenAi;

/// <summary>How an OpenAI request maps onto the engine's options, and which fields it refuses naming them.</summary>
public sealed class OpenAiRequestTests
{
    private static readonly GenerationOptions ModelDefaults = new() { MaxNewTokens = 100, TopK = 50 };

    private static OpenAiRequest Read(OpenAiRoute route, string json)
    {
        using var document = JsonDocument.Parse(json);
        return OpenAiRequest.Read(route, document.RootElement);
    }

    private static OpenAiRequestException Refused(OpenAiRoute route, string json) =>
        Assert.Throws<OpenAiRequestException>(() => Read(route, json));

    [Fact]
    public void Temperature_zero_is_greedy_search_with_the_requested_budget_and_stops()
    {
        var request = Read(OpenAiRoute.Completions, """{"model":"m","prompt":"hi","temperature":0,"max_tokens":7,"stop":["\n","."]}""");
        var options = request.OptionsOver(ModelDefaults with { DoSample = true }, 64, 0);

        Assert.False(options.DoSample);
        Assert.Equal(7, options.MaxNewTokens);
        Assert.Equal(["\n", "."], options.StopStrings);
    }

    [Fact]
    public void A_positive_temperature_samples_over_the_whole_vocabulary_with_top_p_and_seed_plus_the_choice()
    {
        var request = Read(OpenAiRoute.Completions, """{"model":"m","prompt":"hi","temperature":0.7,"top_p":0.9,"seed":41,"n":3}""");

        var third = request.OptionsOver(ModelDefaults, 64, 2);
        Assert.True(third.DoSample);
        Assert.Equal(0.7, third.Temperature);
        Assert.Equal(0.9, third.TopP);
        Assert.Equal(0, third.TopK);
        Assert.Equal(43UL, third.Seed);
        Assert.Equal(3, request.N);
    }

    [Fact]
    public void Without_sampling_parameters_the_models_defaults_hold_and_the_budget_is_the_default_given()
    {
        var request = Read(OpenAiRoute.ChatCompletions, """{"model":"m","messages":[{"role":"user","content":"hi"}]}""");
        var options = request.OptionsOver(ModelDefaults, 64, 0);

        Assert.Equal(ModelDefaults with { MaxNewTokens = 64 }, options);
    }

    [Fact]
    public void Chat_messages_become_one_prompt_through_the_chat_template_with_text_parts_joined()
    {
        var request = Read(OpenAiRoute.ChatCompletions,
            """{"model":"m","max_completion_tokens":5,"messages":[{"role":"system","content":"Answer briefly."},{"role":"user","content":[{"type":"text","text":"Where is "},{"type":"text","text":"Ganymede?"}]}]}""");

        Assert.Equal(["Answer briefly.\n\nWhere is Ganymede?"], request.Prompts);
        Assert.Equal(5, request.MaxTokens);
        Assert.Equal("max_completion_tokens", request.MaxTokensParam);
    }

    [Fact]
    public void Frequency_and_presence_penalties_and_min_tokens_map_onto_the_engines_options()
    {
        var request = Read(OpenAiRoute.Completions, """{"model":"m","prompt":"hi","frequency_penalty":0.5,"presence_penalty":-1.25,"min_tokens":3}""");
        var options = request.OptionsOver(ModelDefaults, 64, 0);

        Assert.Equal(0.5, options.FrequencyPenalty);
        Assert.Equal(-1.25, options.PresencePenalty);
        Assert.Equal(3, options.MinNewTokens);
        Assert.Equal(ModelDefaults with { MaxNewTokens = 64 }, options with { FrequencyPenalty = 0, PresencePenalty = 0, MinNewTokens = 0 });
    }

    [Theory]
    [InlineData(false, """{"model":"m","prompt":"x"}""", null)]
    [InlineData(false, """{"model":"m","prompt":"x","logprobs":null}""", null)]
    [InlineData(false, """{"model":"m","prompt":"x","logprobs":0}""", 0)]
    [InlineData(false, """{"model":"m","prompt":"x","logprobs":5}""", 5)]
    [InlineData(true, """{"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":false}""", null)]
    [InlineData(true, """{"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":true}""", 0)]
    [InlineData(true, """{"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":20}""", 20)]
    public void Log_probabilities_are_asked_for_as_each_route_spells_it(bool chat, string json, int? top)
    {
        Assert.Equal(top, Read(chat ? OpenAiRoute.ChatCompletions : OpenAiRoute.Completions, json).TopLogProbs);
    }

    [Fact]
    public void A_context_window_overrun_names_the_counts_the_window_and_the_field()
    {
        var request = Read(OpenAiRoute.ChatCompletions, """{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":100}""");

        var error = request.Check(request.OptionsOver(ModelDefaults, 64, 0), promptTokens: 450, window: 512, maxNewTokensCeiling: 512)!;

        Assert.Equal("messages", error.Param);
        Assert.Equal("context_length_exceeded", error.Code);
        Assert.Contains("512 tokens", error.Message, StringComparison.Ordinal);
        Assert.Contains("550 tokens (450 in the messages, 100 in the completion)", error.Message, StringComparison.Ordinal);
        Assert.Null(request.Check(request.OptionsOver(ModelDefaults, 64, 0), promptTokens: 412, window: 512, maxNewTokensCeiling: 512));
    }

    [Fact]
    public void Min_tokens_above_max_tokens_is_refused_under_its_OpenAI_name()
    {
        var request = Read(OpenAiRoute.Completions, """{"model":"m","prompt":"x","max_tokens":4,"min_tokens":9}""");

        Assert.Equal("min_tokens", request.Check(request.OptionsOver(ModelDefaults, 64, 0), 3, 512, 512)?.Param);
    }

    [Fact]
    public void A_prompt_array_is_one_prompt_each()
    {
        Assert.Equal(["a", "b"], Read(OpenAiRoute.Completions, """{"model":"m","prompt":["a","b"]}""").Prompts);
    }

    [Theory]
    [InlineData("""{"model":"m","prompt":"x","echo":true}""", "echo")]
    [InlineData("""{"model":"m","prompt":"x","suffix":"y"}""", "suffix")]
    [InlineData("""{"model":"m","prompt":"x","best_of":3}""", "best_of")]
    [InlineData("""{"model":"m","prompt":"x","logprobs":6}""", "logprobs")]
    [InlineData("""{"model":"m","prompt":"x","presence_penalty":2.5}""", "presence_penalty")]
    [InlineData("""{"model":"m","prompt":"x","frequency_penalty":-3}""", "frequency_penalty")]
    [InlineData("""{"model":"m","prompt":"x","min_tokens":-1}""", "min_tokens")]
    [InlineData("""{"model":"m","prompt":"x","temperature":3}""", "temperature")]
    [InlineData("""{"model":"m","prompt":"x","n":0}""", "n")]
    [InlineData("""{"model":"m","prompt":"x","stop":["a","b","c","d","e"]}""", "stop")]
    [InlineData("""{"model":"m","prompt":[1,2]}""", "prompt")]
    [InlineData("""{"prompt":"x"}""", "model")]
    public void A_completion_field_it_cannot_honour_is_refused_naming_it(string json, string param)
    {
        Assert.Equal(param, Refused(OpenAiRoute.Completions, json).Param);
    }

    [Theory]
    [InlineData("""{"model":"m","messages":[]}""", "messages")]
    [InlineData("""{"model":"m","messages":[{"role":"tool","content":"x"}]}""", "messages")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"}]}""", "messages")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}""", "messages[0].content[0]")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]}""", "tools")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"top_logprobs":2}""", "top_logprobs")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":21}""", "top_logprobs")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":1}""", "logprobs")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}}""", "response_format")]
    public void A_chat_field_it_cannot_honour_is_refused_naming_it(string json, string param)
    {
        Assert.Equal(param, Refused(OpenAiRoute.ChatCompletions, json).Param);
    }

    [Fact]
    public void An_error_is_OpenAIs_shape_with_type_param_and_code()
    {
        var error = OpenAiError.Invalid("messages", "too long", "context_length_exceeded");
        using var json = JsonDocument.Parse(error.ToJson());
        var body = json.RootElement.GetProperty("error");

        Assert.Equal(400, error.Status);
        Assert.Equal("too long", body.GetProperty("message").GetString());
        Assert.Equal("invalid_request_error", body.GetProperty("type").GetString());
        Assert.Equal("messages", body.GetProperty("param").GetString());
        Assert.Equal("context_length_exceeded", body.GetProperty("code").GetString());
        Assert.Equal(JsonValueKind.Null, JsonDocument.Parse(OpenAiError.Unauthorized("no").ToJson()).RootElement.GetProperty("error").GetProperty("param").ValueKind);
    }
}
