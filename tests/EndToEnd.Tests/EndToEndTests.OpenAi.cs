using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using Serverless.EndToEnd.Tests.Infrastructure;
using ChatFinishReason = OpenAI.Chat.ChatFinishReason;

namespace Serverless.EndToEnd.Tests;

/// <summary>The OpenAI-compatible routes (<c>/api/v1</c>) through the official clients: the OpenAI .NET SDK and
/// Microsoft.Extensions.AI's <see cref="IChatClient"/> over it, with the app's key as the SDK sends it (Bearer).</summary>
public abstract partial class EndToEndTests<THost>
{
    private OpenAIClient OpenAi(string? key = null) =>
        new(new ApiKeyCredential(key ?? host.OpenAiKey!), new OpenAIClientOptions { Endpoint = new Uri(host.BaseUrl, "api/v1/") });

    private void SkipIfNoOpenAiKey()
    {
        SkipIfUnavailable();
        Skip.If(host.OpenAiKey is null, $"{host.Name} host: the suite does not know its OpenAi__ApiKey (E2E_OPENAI_KEY)");
    }

    private static readonly ChatCompletionOptions Greedy = new() { Temperature = 0, MaxOutputTokenCount = 12 };

    [SkippableFact]
    public async Task The_OpenAI_chat_client_answers_a_greedy_completion_with_usage_and_a_finish_reason()
    {
        SkipIfNoOpenAiKey();
        var chat = OpenAi().GetChatClient(host.OpenAiModel);
        ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage(Prompt)], Greedy);

        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.NotEmpty(completion.Content[0].Text);
        Assert.True(completion.FinishReason is ChatFinishReason.Stop or ChatFinishReason.Length, $"finish reason {completion.FinishReason}");
        Assert.True(completion.Usage.InputTokenCount > 0);
        Assert.InRange(completion.Usage.OutputTokenCount, 1, 12);
        Assert.Equal(completion.Usage.InputTokenCount + completion.Usage.OutputTokenCount, completion.Usage.TotalTokenCount);
        Assert.Equal(completion.FinishReason == ChatFinishReason.Length, completion.Usage.OutputTokenCount == 12);
    }

    [SkippableFact]
    public async Task The_OpenAI_chat_client_streams_the_same_text_as_the_plain_answer_for_greedy_settings()
    {
        SkipIfNoOpenAiKey();
        var chat = OpenAi().GetChatClient(host.OpenAiModel);
        ChatCompletion plain = await chat.CompleteChatAsync([new UserChatMessage(Prompt)], Greedy);

        var text = new StringBuilder();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        var updates = 0;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage(Prompt)], Greedy))
        {
            updates++;
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        Assert.Equal(plain.Content[0].Text, text.ToString());
        Assert.Equal(plain.FinishReason, finish);
        Assert.True(updates > 2, $"only {updates} update(s): the answer was not streamed token by token");
        // The SDK asks for stream_options.include_usage: the last chunk carries the usage.
        Assert.NotNull(usage);
        Assert.Equal(plain.Usage.OutputTokenCount, usage.OutputTokenCount);
        Assert.Equal(plain.Usage.InputTokenCount, usage.InputTokenCount);
    }

    [SkippableFact]
    public async Task A_Microsoft_Extensions_AI_chat_client_gets_text_usage_and_finish_reason_plain_and_streamed()
    {
        SkipIfNoOpenAiKey();
        var client = OpenAi().GetChatClient(host.OpenAiModel).AsIChatClient();
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 12 };
        var messages = new[] { new Microsoft.Extensions.AI.ChatMessage(ChatRole.System, "Answer briefly."), new Microsoft.Extensions.AI.ChatMessage(ChatRole.User, Prompt) };

        var response = await client.GetResponseAsync(messages, options);
        Assert.NotEmpty(response.Text);
        Assert.NotNull(response.Usage);
        Assert.True(response.Usage.InputTokenCount > 0);
        Assert.True(response.FinishReason == Microsoft.Extensions.AI.ChatFinishReason.Stop || response.FinishReason == Microsoft.Extensions.AI.ChatFinishReason.Length);

        var streamed = await client.GetStreamingResponseAsync(messages, options).ToChatResponseAsync();
        Assert.Equal(response.Text, streamed.Text);
        Assert.Equal(response.FinishReason, streamed.FinishReason);
    }

    [SkippableFact]
    public async Task A_request_over_the_context_window_is_the_SDKs_400_naming_the_token_counts()
    {
        SkipIfNoOpenAiKey();
        var chat = OpenAi().GetChatClient(host.OpenAiModel);
        var longPrompt = string.Join(' ', Enumerable.Repeat("Ganymede orbits Jupiter.", 120));
        var error = await Assert.ThrowsAsync<ClientResultException>(() =>
            chat.CompleteChatAsync([new UserChatMessage(longPrompt)], new ChatCompletionOptions { MaxOutputTokenCount = 200 }));
        Assert.Equal(400, error.Status);
        Assert.Contains("maximum context length", error.Message, StringComparison.Ordinal);
        Assert.Contains("context_length_exceeded", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task An_unknown_model_is_the_SDKs_404_and_a_wrong_key_its_401()
    {
        SkipIfNoOpenAiKey();
        var unknown = await Assert.ThrowsAsync<ClientResultException>(() =>
            OpenAi().GetChatClient("gpt-4o").CompleteChatAsync([new UserChatMessage(Prompt)], Greedy));
        Assert.Equal(404, unknown.Status);
        Assert.Contains("model_not_found", unknown.Message, StringComparison.Ordinal);

        var wrongKey = await Assert.ThrowsAsync<ClientResultException>(() =>
            OpenAi("not-the-key").GetChatClient(host.OpenAiModel).CompleteChatAsync([new UserChatMessage(Prompt)], Greedy));
        Assert.Equal(401, wrongKey.Status);

        var models = await OpenAi().GetOpenAIModelClient().GetModelsAsync();
        Assert.Equal([host.OpenAiModel], models.Value.Select(m => m.Id));
    }

    [SkippableFact]
    public async Task The_completions_route_answers_through_the_SDKs_protocol_method_as_api_completions_does_for_greedy_settings()
    {
        SkipIfNoOpenAiKey();
        // The SDK has no typed client for the legacy completions route: its protocol layer sends the JSON and the key.
        var client = OpenAi();
        var body = BinaryContent.Create(BinaryData.FromObjectAsJson(new { model = host.OpenAiModel, prompt = Prompt, max_tokens = 10, temperature = 0 }));
        var message = client.GetChatClient(host.OpenAiModel).Pipeline.CreateMessage();
        message.Request.Method = "POST";
        message.Request.Uri = new Uri(host.BaseUrl, "api/v1/completions");
        message.Request.Headers.Set("Content-Type", "application/json");
        message.Request.Content = body;
        await client.GetChatClient(host.OpenAiModel).Pipeline.SendAsync(message);
        Assert.Equal(200, message.Response!.Status);
        using var v1 = JsonDocument.Parse(message.Response.Content.ToString());
        Assert.Equal("text_completion", v1.RootElement.GetProperty("object").GetString());
        var choice = v1.RootElement.GetProperty("choices")[0];

        using var native = await host.Http.PostAsync("api/completions", HostFixture.Json(new { prompt = Prompt, parameters = new { max_new_tokens = 10 } }));
        using var expected = JsonDocument.Parse(await native.Content.ReadAsStringAsync());
        Assert.Equal(expected.RootElement.GetProperty("generated_text").GetString(), choice.GetProperty("text").GetString());
        Assert.Equal(expected.RootElement.GetProperty("output_tokens").GetInt32(), v1.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [SkippableFact]
    public async Task The_v1_routes_take_the_Azure_style_api_key_header_and_answer_OpenAI_errors_naming_the_parameter()
    {
        SkipIfNoOpenAiKey();
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/completions")
        {
            Content = HostFixture.Json(new { model = host.OpenAiModel, prompt = Prompt, echo = true }),
        };
        request.Headers.Add("api-key", host.OpenAiKey);
        using var response = await host.Anonymous.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("echo", error.RootElement.GetProperty("error").GetProperty("param").GetString());
        Assert.Equal("invalid_request_error", error.RootElement.GetProperty("error").GetProperty("type").GetString());

        using var noKey = await host.Anonymous.GetAsync("api/v1/models");
        Assert.Equal(HttpStatusCode.Unauthorized, noKey.StatusCode);
        using var noKeyError = JsonDocument.Parse(await noKey.Content.ReadAsStringAsync());
        Assert.Equal("invalid_api_key", noKeyError.RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    [SkippableFact]
    public async Task The_OpenAI_chat_client_gets_each_tokens_log_probability_and_its_most_likely_alternatives()
    {
        SkipIfNoOpenAiKey();
        var chat = OpenAi().GetChatClient(host.OpenAiModel);
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 8, IncludeLogProbabilities = true, TopLogProbabilityCount = 3 };

        ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage(Prompt)], options);

        var tokens = completion.ContentTokenLogProbabilities;
        // Every generated token but a final end-of-sequence (OpenAI leaves its own end token out too).
        Assert.Equal(completion.Usage.OutputTokenCount - (completion.FinishReason == ChatFinishReason.Stop ? 1 : 0), tokens.Count);
        foreach (var token in tokens)
        {
            Assert.Equal(3, token.TopLogProbabilities.Count);
            Assert.True(token.LogProbability <= 0, $"log-probability {token.LogProbability}");
            Assert.Equal(token.TopLogProbabilities.Select(t => t.LogProbability).OrderDescending(), token.TopLogProbabilities.Select(t => t.LogProbability));
            // Greedy: the chosen token is the most likely one.
            Assert.Equal(token.TopLogProbabilities[0].Token, token.Token);
            Assert.Equal(token.TopLogProbabilities[0].LogProbability, token.LogProbability);
        }

        var streamed = new List<ChatTokenLogProbabilityDetails>();
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage(Prompt)], options))
            streamed.AddRange(update.ContentTokenLogProbabilities);
        Assert.Equal(tokens.Select(t => (t.Token, t.LogProbability)), streamed.Select(t => (t.Token, t.LogProbability)));
    }

    [SkippableFact]
    public async Task A_frequency_penalty_through_the_SDK_gives_the_text_api_completions_gives_for_that_penalty()
    {
        SkipIfNoOpenAiKey();
        var chat = OpenAi().GetChatClient(host.OpenAiModel);

        ChatCompletion penalised = await chat.CompleteChatAsync([new UserChatMessage(Prompt)],
            new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 24, FrequencyPenalty = 1.5f, PresencePenalty = 0.5f });

        using var native = await host.Http.PostAsync("api/completions",
            HostFixture.Json(new { prompt = Prompt, parameters = new { max_new_tokens = 24, frequency_penalty = 1.5, presence_penalty = 0.5 } }));
        using var expected = JsonDocument.Parse(await native.Content.ReadAsStringAsync());
        Assert.Equal(expected.RootElement.GetProperty("generated_text").GetString(), penalised.Content[0].Text);
    }

    [SkippableFact]
    public async Task An_unknown_v1_route_or_method_is_OpenAIs_404_and_the_real_routes_still_answer()
    {
        SkipIfNoOpenAiKey();
        using var http = new HttpClient { BaseAddress = host.BaseUrl };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", host.OpenAiKey);

        foreach (var (method, path) in new[] { (HttpMethod.Post, "api/v1/embeddings"), (HttpMethod.Get, "api/v1/chat/completions"), (HttpMethod.Get, "api/v1/files/x/y/z") })
        {
            using var response = await http.SendAsync(new HttpRequestMessage(method, path));
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal("unknown_url", error.RootElement.GetProperty("error").GetProperty("code").GetString());
        }
        using var stranger = await host.Anonymous.PostAsync("api/v1/embeddings", HostFixture.Json(new { }));
        Assert.Equal(HttpStatusCode.Unauthorized, stranger.StatusCode);
        // The catch-all shadows none of the real routes (the Functions host orders routes by function name).
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("api/v1/models")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("api/v1/files")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("api/v1/batches")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("api/v1/files/file-none")).StatusCode);
    }

    [SkippableFact]
    public async Task The_files_and_batches_routes_take_the_apps_OpenAI_key_as_bearer_or_api_key_and_refuse_others()
    {
        SkipIfNoOpenAiKey();
        using var bearer = new HttpRequestMessage(HttpMethod.Get, "api/v1/files");
        bearer.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", host.OpenAiKey);
        using var apiKey = new HttpRequestMessage(HttpMethod.Get, "api/v1/batches");
        apiKey.Headers.Add("api-key", host.OpenAiKey);
        using var wrong = new HttpRequestMessage(HttpMethod.Get, "api/v1/batches");
        wrong.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "not-the-key");

        Assert.Equal(HttpStatusCode.OK, (await host.Anonymous.SendAsync(bearer)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await host.Anonymous.SendAsync(apiKey)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await host.Anonymous.SendAsync(wrong)).StatusCode);
        using var none = await host.Anonymous.GetAsync("api/v1/files");
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        using var error = JsonDocument.Parse(await none.Content.ReadAsStringAsync());
        Assert.Equal("invalid_api_key", error.RootElement.GetProperty("error").GetProperty("code").GetString());
        // The function key alone is not the OpenAI key.
        Assert.Equal(HttpStatusCode.Unauthorized, (await host.Http.GetAsync("api/v1/files")).StatusCode);
    }
}
