namespace Serverless.Inference.Generation;

/// <summary>How to generate: the parameter names and meanings of Hugging Face <c>generate</c>; <see cref="GenerationParameters"/> maps the HF names to these properties.</summary>
public sealed record GenerationOptions
{
    /// <summary>max_new_tokens: the most tokens to generate, 1 to the model's <see cref="Model.ModelOptions.MaxNewTokensCeiling"/>; 64 by default.</summary>
    public int MaxNewTokens { get; init; } = 64;
    /// <summary>min_new_tokens: end-of-sequence is banned until this many tokens were generated; 0 to max_new_tokens.</summary>
    public int MinNewTokens { get; init; }
    /// <summary>do_sample: draw from the (warped) distribution instead of taking the most likely token.</summary>
    public bool DoSample { get; init; }
    /// <summary>temperature: scores are divided by it before sampling; finite and greater than 0.</summary>
    public double Temperature { get; init; } = 1.0;
    /// <summary>top_k: when sampling, keep only the k highest scores (ties with the k-th kept); 0 turns it off.</summary>
    public int TopK { get; init; } = 50;
    /// <summary>top_p: when sampling, keep the most likely tokens whose probabilities add up to top_p; in (0, 1], 1 turns it off.</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>seed: makes sampling reproducible on any machine (xoshiro256**); unset draws a seed from the OS.</summary>
    public ulong? Seed { get; init; }
    /// <summary>num_beams: beam search width, 1 to 16; 1 is greedy search or sampling. Not combinable with do_sample.</summary>
    public int NumBeams { get; init; } = 1;
    /// <summary>length_penalty: beam scores are divided by length^length_penalty; finite.</summary>
    public double LengthPenalty { get; init; } = 1.0;
    /// <summary>early_stopping: beam search stops once num_beams finished hypotheses exist.</summary>
    public bool EarlyStopping { get; init; }
    /// <summary>repetition_penalty: scores of tokens already in the decoder input are divided by it (multiplied when negative); finite and greater than 0, 1 turns it off.</summary>
    public double RepetitionPenalty { get; init; } = 1.0;
    /// <summary>frequency_penalty (OpenAI's, additive): the score of a token generated c times so far is lowered by c times it; -2 to 2, 0 turns it off.</summary>
    public double FrequencyPenalty { get; init; }
    /// <summary>presence_penalty (OpenAI's, additive): the score of a token generated at least once so far is lowered by it; -2 to 2, 0 turns it off.</summary>
    public double PresencePenalty { get; init; }
    /// <summary>no_repeat_ngram_size: no n-gram of this size occurs twice in the decoder input; 0 turns it off.</summary>
    public int NoRepeatNgramSize { get; init; }
    /// <summary>stop_strings: generation ends at the first occurrence of any, which is cut off; at most 8, each 1 to 100 characters.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];
    /// <summary>truncation: what to do with a prompt longer than the context window.</summary>
    public Truncation Truncation { get; init; } = Truncation.None;

    /// <summary>Every out-of-range parameter, each naming the parameter (snake_case, as in HF) and its allowed range.</summary>
    /// <param name="maxNewTokensCeiling">The upper bound for max_new_tokens: the model's <see cref="Model.ModelOptions.MaxNewTokensCeiling"/>.</param>
    /// <returns>All errors at once, in parameter order; empty when the options are usable.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxNewTokensCeiling"/> is less than 1.</exception>
    /// <remarks>The ranges and messages live in <see cref="GenerationParameters"/>. Every generate call runs the same
    /// check and throws <see cref="InvalidGenerationOptionsException"/> with these errors.</remarks>
    public IReadOnlyList<OptionError> Validate(int maxNewTokensCeiling) => GenerationParameters.Validate(this, maxNewTokensCeiling);
}

/// <summary>One invalid generation parameter.</summary>
/// <param name="Parameter">Its Hugging Face name (<c>top_p</c>).</param>
/// <param name="Message">What is wrong and what is allowed, starting with the name
/// (<c>top_p must be greater than 0 and at most 1 (got 1.5)</c>).</param>
public sealed record OptionError(string Parameter, string Message);

/// <summary>What to do with a prompt longer than the model's context window.</summary>
public enum Truncation
{
    /// <summary>Reject the prompt with <see cref="PromptTooLongException"/>.</summary>
    None,
    /// <summary>Keep the first tokens (and the final <c>&lt;/s&gt;</c>).</summary>
    KeepStart,
    /// <summary>Keep the last tokens.</summary>
    KeepEnd,
}
