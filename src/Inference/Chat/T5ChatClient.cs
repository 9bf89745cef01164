using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Microsoft.ML.Tokenizers;
using Serverless.Inference.Generation;
using Serverless.Inference.Model;
using Serverless.Inference.Tokenization;

namespace Serverless.Inference.Chat;

/// <summary>
/// An <see cref="IChatClient"/> (Microsoft.Extensions.AI) over a local flan-T5 <see cref="T5Model"/>: the conversation
/// becomes one prompt through <see cref="ChatTemplate"/>, the same template as the OpenAI-compatible API, and is
/// completed by the engine (<c>model.GenerateAsync</c>, or <c>model.StartTokenStream</c> when streaming).
/// </summary>
/// <remarks>
/// <para><see cref="ChatOptions"/> map to <see cref="GenerationOptions"/>: <see cref="ChatOptions.MaxOutputTokens"/> is
/// max_new_tokens; <see cref="ChatOptions.Temperature"/> 0 is greedy search and any other value samples at that
/// temperature (do_sample); <see cref="ChatOptions.TopP"/>, <see cref="ChatOptions.TopK"/> (which, as in Hugging Face,
/// shape sampling only), <see cref="ChatOptions.Seed"/> and <see cref="ChatOptions.StopSequences"/> are top_p, top_k,
/// seed and stop_strings; every other parameter goes in <see cref="ChatOptions.AdditionalProperties"/> by its Hugging Face
/// name (<c>num_beams</c>, <c>repetition_penalty</c>, <c>no_repeat_ngram_size</c>, <c>do_sample</c>,
/// <c>min_new_tokens</c>, <c>length_penalty</c>, … as <see cref="GenerationParameters.All"/> lists them) and wins over
/// the typed options. Unknown additional properties are ignored; <see cref="ChatOptions.Tools"/> and
/// <see cref="ChatOptions.ResponseFormat"/> are not used (flan-T5 calls no tools). <see cref="ChatOptions.Instructions"/>
/// is a system message after the conversation's own.</para>
/// <para>Finish reasons: end-of-sequence and a stop sequence are <see cref="ChatFinishReason.Stop"/>, max_new_tokens is
/// <see cref="ChatFinishReason.Length"/>. Cancellation throws <see cref="OperationCanceledException"/> and stops the
/// decode loop before its next step. Messages hold text only: any other content is refused.</para>
/// <para>The client is safe to use from concurrent callers, as the model is.</para>
/// </remarks>
public sealed class T5ChatClient : IChatClient
{
    /// <summary>The <see cref="ChatClientMetadata.ProviderName"/> of every <see cref="T5ChatClient"/>.</summary>
    public const string ProviderName = "serverless-inference";

    private readonly bool _ownsModel;
    private readonly GenerationOptions _defaults;

    /// <summary>Loads the model folder (Optimum layout, as <see cref="T5Model.Load"/>); the client owns and disposes it.</summary>
    /// <param name="modelDirectory">The model folder; its name is the model id unless <paramref name="options"/> sets one.</param>
    /// <param name="modelOptions">How to load it (e.g. <see cref="ModelOptions.UseQuantized"/>).</param>
    /// <param name="options">The model id and default generation parameters.</param>
    /// <exception cref="ModelFormatException">A file is missing or does not match <c>config.json</c>.</exception>
    public T5ChatClient(string modelDirectory, ModelOptions? modelOptions = null, T5ChatClientOptions? options = null)
        : this(T5Model.Load(modelDirectory, modelOptions), ownsModel: true,
            options?.ModelId ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(modelDirectory))), options)
    {
    }

    /// <summary>Serves a model loaded by the caller, who disposes it after this client's last call.</summary>
    /// <param name="model">The loaded model.</param>
    /// <param name="options">The model id (<c>t5</c> when unset) and default generation parameters.</param>
    public T5ChatClient(T5Model model, T5ChatClientOptions? options = null)
        : this(model ?? throw new ArgumentNullException(nameof(model)), ownsModel: false, options?.ModelId ?? "t5", options)
    {
    }

    private T5ChatClient(T5Model model, bool ownsModel, string modelId, T5ChatClientOptions? options)
    {
        Model = model;
        _ownsModel = ownsModel;
        _defaults = options?.DefaultGenerationOptions ?? model.DefaultGenerationOptions;
        Metadata = new ChatClientMetadata(ProviderName, providerUri: null, defaultModelId: modelId);
    }

    /// <summary>The engine this client runs on.</summary>
    public T5Model Model { get; }

    /// <summary>The provider name (<see cref="ProviderName"/>) and the model id.</summary>
    public ChatClientMetadata Metadata { get; }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The conversation does not fit the chat template (see <see cref="ChatTemplate"/>),
    /// holds non-text content, or an option has the wrong type.</exception>
    /// <exception cref="InvalidGenerationOptionsException">An option is out of range.</exception>
    /// <exception cref="PromptTooLongException">The prompt exceeds the context window and truncation is off.</exception>
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var (prompt, generation) = Prepare(messages, options);
        var createdAt = DateTimeOffset.UtcNow;
        var results = await Model.GenerateAsync([prompt], generation, cancellationToken).ConfigureAwait(false);
        var result = results[0];
        ThrowIfCancelled(result, cancellationToken);
        var responseId = NewId();
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, result.Text) { MessageId = responseId, CreatedAt = createdAt })
        {
            ResponseId = responseId,
            ModelId = Metadata.DefaultModelId,
            CreatedAt = createdAt,
            FinishReason = ChatOptionsMapping.ToChatFinishReason(result.FinishReason),
            Usage = ChatOptionsMapping.ToUsage(result),
            RawRepresentation = result,
        };
    }

    /// <inheritdoc />
    /// <remarks>One update per generated token that adds text, then one with the finish reason and the usage
    /// (<see cref="UsageContent"/>). With num_beams &gt; 1 the text arrives when the search ends. The texts concatenate
    /// to what <see cref="GetResponseAsync"/> returns for the same options. Leaving the enumeration early stops the
    /// decode loop.</remarks>
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages,
        ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var (prompt, generation) = Prepare(messages, options);
        var createdAt = DateTimeOffset.UtcNow;
        var responseId = NewId();
        // Owned here so that a consumer that stops enumerating also stops the decode loop.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var stream = Model.StartTokenStream(prompt, generation, stop.Token);
        var finished = false;
        try
        {
            await foreach (var token in stream.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                if (token.Text.Length == 0)
                    continue; // part of a character spread over several tokens, or past a stop string
                yield return Update(new ChatResponseUpdate(ChatRole.Assistant, token.Text) { RawRepresentation = token });
            }
            var result = await stream.Completion.ConfigureAwait(false);
            finished = true;
            ThrowIfCancelled(result, cancellationToken);
            yield return Update(new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(ChatOptionsMapping.ToUsage(result))])
            {
                FinishReason = ChatOptionsMapping.ToChatFinishReason(result.FinishReason),
                RawRepresentation = result,
            });
        }
        finally
        {
            if (!finished)
            {
                await stop.CancelAsync().ConfigureAwait(false);
                // Wait for the loop to leave the model (its outcome was reported already, or is of no interest now).
                try
                {
                    await stream.Completion.ConfigureAwait(false);
                }
                catch (Exception e) when (e is InferenceException or OperationCanceledException or ArgumentException)
                {
                }
            }
        }

        ChatResponseUpdate Update(ChatResponseUpdate update)
        {
            update.ResponseId = responseId;
            update.MessageId = responseId;
            update.ModelId = Metadata.DefaultModelId;
            update.CreatedAt = createdAt;
            return update;
        }
    }

    /// <summary>
    /// <see cref="ChatClientMetadata"/>, the engine's objects (<see cref="T5Model"/>, its <see cref="T5Tokenizer"/> also as
    /// a <see cref="Tokenizer"/>) or this client; null for a keyed request or any other type.
    /// </summary>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null)
            return null;
        if (serviceType == typeof(ChatClientMetadata))
            return Metadata;
        if (serviceType == typeof(T5Model))
            return Model;
        if (serviceType.IsInstanceOfType(Model.Tokenizer) && serviceType != typeof(object) && serviceType != typeof(IDisposable))
            return Model.Tokenizer;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Disposes the model when this client loaded it; a model given to the constructor stays the caller's.</summary>
    public void Dispose()
    {
        if (_ownsModel)
            Model.Dispose();
    }

    private (string Prompt, GenerationOptions Options) Prepare(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var turns = new List<ChatTurn>();
        var index = 0;
        foreach (var message in messages)
        {
            if (message is null)
                throw new ArgumentException($"messages[{index}] is null.", nameof(messages));
            foreach (var content in message.Contents)
            {
                // Reasoning text and usage are about a message, not in it; anything else (images, tool calls) flan-T5 cannot read.
                if (content is not (TextContent or TextReasoningContent or UsageContent))
                    throw new ArgumentException($"messages[{index}] holds {content.GetType().Name}; flan-T5 reads text only.", nameof(messages));
            }
            turns.Add(new ChatTurn(message.Role.Value.ToLowerInvariant(), message.Text));
            index++;
        }
        if (options?.Instructions is { Length: > 0 } instructions)
            turns.Add(new ChatTurn("system", instructions));
        return (ChatTemplate.Format(turns), ChatOptionsMapping.ToGenerationOptions(options, _defaults));
    }

    private static void ThrowIfCancelled(GenerationResult result, CancellationToken cancellationToken)
    {
        if (result.FinishReason != FinishReason.Cancelled)
            return;
        cancellationToken.ThrowIfCancellationRequested();
        throw new OperationCanceledException("The generation was cancelled.");
    }

    private static string NewId() => "chatcmpl-" + Guid.NewGuid().ToString("N");
}
