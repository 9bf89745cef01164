namespace Serverless.Inference;

/// <summary>
/// Base of the engine's own errors: a bad model folder, a prompt too long, options out of range, ONNX Runtime failing to
/// run the model. Wrong arguments (null, an empty prompt, an id outside the vocabulary) are <see cref="ArgumentException"/>s.
/// </summary>
/// <param name="message">What went wrong and what to do about it.</param>
/// <param name="inner">The error that caused it, if any (e.g. ONNX Runtime's).</param>
public class InferenceException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The model folder is incomplete or its files disagree with <c>config.json</c>. Permanent: retrying will not help.</summary>
/// <param name="message">Which file is missing or wrong, in which folder, and how to fix it.</param>
/// <param name="inner">The error that caused it, if any.</param>
public sealed class ModelFormatException(string message, Exception? inner = null) : InferenceException(message, inner);

/// <summary>A prompt has more tokens than the context window and the request did not ask for truncation.</summary>
/// <param name="tokenCount">The prompt's tokens, <c>&lt;/s&gt;</c> included.</param>
/// <param name="limit">The model's context window, in tokens.</param>
/// <param name="promptIndex">The prompt's index in the call's list of prompts.</param>
/// <remarks>Raised before any batch of the call runs. The message does not name the prompt; a caller that knows the
/// prompts by another name (a job's <c>prompts[i]</c>) maps <see cref="PromptIndex"/> to it. Set
/// <see cref="Generation.GenerationOptions.Truncation"/> to keep part of a long prompt instead.</remarks>
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
/// <param name="errors">Every invalid parameter (at least one).</param>
/// <remarks>Each <see cref="Generation.OptionError.Message"/> already names its parameter, so the message joins them as they are.</remarks>
public sealed class InvalidGenerationOptionsException(IReadOnlyList<Generation.OptionError> errors)
    : InferenceException(string.Join("; ", errors.Select(e => e.Message)))
{
    /// <summary>Every invalid parameter, in the order <see cref="Generation.GenerationParameters.All"/> lists them.</summary>
    public IReadOnlyList<Generation.OptionError> Errors { get; } = errors;
}
