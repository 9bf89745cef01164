using System.Globalization;

namespace Serverless.Inference.Generation;

/// <summary>How to generate: the parameter names and meanings of Hugging Face <c>generate</c>.</summary>
public sealed record GenerationOptions
{
    /// <summary>max_new_tokens: the most tokens to generate, 1 to the host's ceiling (Inference__MaxNewTokensCeiling).</summary>
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
    /// <summary>no_repeat_ngram_size: no n-gram of this size occurs twice in the decoder input; 0 turns it off.</summary>
    public int NoRepeatNgramSize { get; init; }
    /// <summary>stop_strings: generation ends at the first occurrence of any, which is cut off; at most 8, each 1 to 100 characters.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];
    /// <summary>truncation: what to do with a prompt longer than the context window.</summary>
    public Truncation Truncation { get; init; } = Truncation.None;

    /// <summary>Every out-of-range parameter, each naming the parameter (snake_case, as in HF) and its allowed range.</summary>
    /// <param name="maxNewTokensCeiling">The host's upper bound for max_new_tokens (setting Inference__MaxNewTokensCeiling).</param>
    /// <returns>All errors at once, in parameter order; empty when the options are usable.</returns>
    /// <remarks>
    /// temperature, top_k and top_p are checked even without do_sample (HF only checks temperature when sampling):
    /// rejecting a nonsensical value always is simpler and hides nothing.
    /// </remarks>
    public IReadOnlyList<OptionError> Validate(int maxNewTokensCeiling)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxNewTokensCeiling);
        var errors = new List<OptionError>();
        void Add(string parameter, string message) => errors.Add(new OptionError(parameter, $"{parameter} {message}"));
        static string F(double value) => value.ToString("R", CultureInfo.InvariantCulture);

        if (MaxNewTokens < 1 || MaxNewTokens > maxNewTokensCeiling)
            Add("max_new_tokens", $"must be between 1 and {maxNewTokensCeiling} (got {MaxNewTokens})");

        int minCeiling = Math.Clamp(MaxNewTokens, 0, maxNewTokensCeiling);
        if (MinNewTokens < 0 || MinNewTokens > minCeiling)
            Add("min_new_tokens", $"must be between 0 and max_new_tokens ({minCeiling}) (got {MinNewTokens})");

        if (!(Temperature > 0) || !double.IsFinite(Temperature))
            Add("temperature", $"must be a finite number greater than 0 (got {F(Temperature)})");

        if (TopK < 0)
            Add("top_k", $"must be at least 0, where 0 turns top-k filtering off (got {TopK})");

        if (!(TopP > 0 && TopP <= 1))
            Add("top_p", $"must be greater than 0 and at most 1 (got {F(TopP)})");

        if (NumBeams < 1 || NumBeams > MaxBeams)
            Add("num_beams", $"must be between 1 and {MaxBeams} (got {NumBeams})");
        else if (NumBeams > 1 && DoSample)
            Add("num_beams", $"must be 1 when do_sample is true: beam sampling is not supported (got {NumBeams})");

        if (!double.IsFinite(LengthPenalty))
            Add("length_penalty", $"must be a finite number (got {F(LengthPenalty)})");

        if (!(RepetitionPenalty > 0) || !double.IsFinite(RepetitionPenalty))
            Add("repetition_penalty", $"must be a finite number greater than 0, where 1 turns it off (got {F(RepetitionPenalty)})");

        if (NoRepeatNgramSize < 0)
            Add("no_repeat_ngram_size", $"must be at least 0, where 0 turns it off (got {NoRepeatNgramSize})");

        IReadOnlyList<string> stops = StopStrings ?? [];
        if (stops.Count > MaxStopStrings)
            Add("stop_strings", $"must hold at most {MaxStopStrings} strings (got {stops.Count})");
        for (int i = 0; i < stops.Count; i++)
        {
            int length = stops[i]?.Length ?? 0;
            if (length < 1 || length > MaxStopStringLength)
                Add("stop_strings", $"must hold strings between 1 and {MaxStopStringLength} characters long (entry {i} has {length})");
        }

        if (!Enum.IsDefined(Truncation))
            Add("truncation", $"must be none, keep_start or keep_end (got {(int)Truncation})");

        return errors;
    }

    private const int MaxBeams = 16;
    private const int MaxStopStrings = 8;
    private const int MaxStopStringLength = 100;
}

/// <summary>One invalid generation parameter: its HF name and what is allowed.</summary>
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
