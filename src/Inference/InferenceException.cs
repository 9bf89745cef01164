namespace Serverless.Inference;

/// <summary>Base of every error the inference engine raises on purpose.</summary>
public class InferenceException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The model folder is incomplete or its files disagree with <c>config.json</c>. Permanent: retrying will not help.</summary>
public sealed class ModelFormatException(string message, Exception? inner = null) : InferenceException(message, inner);

/// <summary>A prompt has more tokens than the context window and the request did not ask for truncation.</summary>
/// <remarks>Raised before any batch of the call runs. The message does not name the prompt; a caller that knows the
/// prompts by another name (a job's <c>prompts[i]</c>) maps <see cref="PromptIndex"/> to it.</remarks>
public sealed class PromptTooLongException(int tokenCount, int limit, int promptIndex = 0)
    : InferenceException($"The prompt has {tokenCount} tokens but the model's context window is {limit}; shorten it or set truncation to keep_start or keep_end.")
{
    /// <summary>The prompt's tokens, <c>&lt;/s&gt;</c> included.</summary>
    public int TokenCount { get; } = tokenCount;

    /// <summary>The model's context window, in tokens.</summary>
    public int Limit { get; } = limit;

    /// <summary>The prompt's index in the call's list of prompts.</summary>
    public int PromptIndex { get; } = promptIndex;
}

/// <summary>A generation parameter is out of range.</summary>
/// <remarks>Each <see cref="Generation.OptionError.Message"/> already names its parameter, so the message joins them as they are.</remarks>
public sealed class InvalidGenerationOptionsException(IReadOnlyList<Generation.OptionError> errors)
    : InferenceException(string.Join("; ", errors.Select(e => e.Message)))
{
    /// <summary>Every invalid parameter, in the order <see cref="Generation.GenerationParameters.All"/> lists them.</summary>
    public IReadOnlyList<Generation.OptionError> Errors { get; } = errors;
}
