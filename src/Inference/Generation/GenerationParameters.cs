using System.Globalization;
using System.Text.Json;

namespace Serverless.Inference.Generation;

/// <summary>
/// The Hugging Face <c>generate</c> parameters this engine supports, in one table: each name with its
/// <see cref="GenerationOptions"/> property, type, range, error messages and description. Job specs, the model's
/// <c>generation_config.json</c>, the CLI's <c>--param name=value</c> and option validation all read it.
/// </summary>
public static class GenerationParameters
{
    private const int MaxBeams = 16;
    private const int MaxStopStrings = 8;
    private const int MaxStopStringLength = 100;
    private const double MaxOccurrencePenalty = 2; // OpenAI's and vLLM's range

    private static void Penalty(double value, Action<string> fail)
    {
        if (!(value >= -MaxOccurrencePenalty && value <= MaxOccurrencePenalty))
            fail($"must be a number from {-MaxOccurrencePenalty} to {MaxOccurrencePenalty}, where 0 turns it off (got {F(value)})");
    }

    private static readonly string[] TruncationNames = ["none", "keep_start", "keep_end"];

    /// <summary>Every parameter, in the order errors are reported.</summary>
    public static IReadOnlyList<GenerationParameter> All { get; } =
    [
        new("max_new_tokens", GenerationParameterType.Integer,
            "The most tokens to generate, 1 to the host's ceiling (Inference__MaxNewTokensCeiling).",
            o => o.MaxNewTokens, Int((o, v) => o with { MaxNewTokens = v }),
            (o, ceiling, fail) =>
            {
                if (o.MaxNewTokens < 1 || o.MaxNewTokens > ceiling)
                    fail($"must be between 1 and {ceiling} (got {o.MaxNewTokens})");
            }) { Minimum = 1 },
        new("min_new_tokens", GenerationParameterType.Integer,
            "End-of-sequence is banned until this many tokens were generated; 0 to max_new_tokens.",
            o => o.MinNewTokens, Int((o, v) => o with { MinNewTokens = v }),
            (o, ceiling, fail) =>
            {
                var minCeiling = Math.Clamp(o.MaxNewTokens, 0, ceiling);
                if (o.MinNewTokens < 0 || o.MinNewTokens > minCeiling)
                    fail($"must be between 0 and max_new_tokens ({minCeiling}) (got {o.MinNewTokens})");
            }) { Minimum = 0 },
        new("do_sample", GenerationParameterType.Boolean,
            "Draw from the (warped) distribution instead of taking the most likely token.",
            o => o.DoSample, Bool((o, v) => o with { DoSample = v })),
        // temperature, top_k and top_p are checked even without do_sample (HF only checks temperature when sampling):
        // rejecting a nonsensical value always is simpler and hides nothing.
        new("temperature", GenerationParameterType.Number,
            "Scores are divided by it before sampling; finite and greater than 0.",
            o => o.Temperature, Number((o, v) => o with { Temperature = v }),
            (o, _, fail) =>
            {
                if (!(o.Temperature > 0) || !double.IsFinite(o.Temperature))
                    fail($"must be a finite number greater than 0 (got {F(o.Temperature)})");
            }) { Minimum = 0, MinimumExclusive = true },
        new("top_k", GenerationParameterType.Integer,
            "When sampling, keep only the k highest scores (ties with the k-th kept); 0 turns it off.",
            o => o.TopK, Int((o, v) => o with { TopK = v }),
            (o, _, fail) =>
            {
                if (o.TopK < 0)
                    fail($"must be at least 0, where 0 turns top-k filtering off (got {o.TopK})");
            }) { Minimum = 0 },
        new("top_p", GenerationParameterType.Number,
            "When sampling, keep the most likely tokens whose probabilities add up to top_p; in (0, 1], 1 turns it off.",
            o => o.TopP, Number((o, v) => o with { TopP = v }),
            (o, _, fail) =>
            {
                if (!(o.TopP > 0 && o.TopP <= 1))
                    fail($"must be greater than 0 and at most 1 (got {F(o.TopP)})");
            }) { Minimum = 0, MinimumExclusive = true, Maximum = 1 },
        new("seed", GenerationParameterType.Integer,
            "Makes sampling reproducible on any machine (xoshiro256**); unset draws a seed from the OS.",
            o => o.Seed, ReadSeed) { Minimum = 0, Maximum = ulong.MaxValue, InGenerationConfig = false },
        new("num_beams", GenerationParameterType.Integer,
            $"Beam search width, 1 to {MaxBeams}; 1 is greedy search or sampling. Not combinable with do_sample.",
            o => o.NumBeams, Int((o, v) => o with { NumBeams = v }),
            (o, _, fail) =>
            {
                if (o.NumBeams < 1 || o.NumBeams > MaxBeams)
                    fail($"must be between 1 and {MaxBeams} (got {o.NumBeams})");
                else if (o.NumBeams > 1 && o.DoSample)
                    fail($"must be 1 when do_sample is true: beam sampling is not supported (got {o.NumBeams})");
            }) { Minimum = 1, Maximum = MaxBeams },
        new("length_penalty", GenerationParameterType.Number,
            "Beam scores are divided by length^length_penalty; finite.",
            o => o.LengthPenalty, Number((o, v) => o with { LengthPenalty = v }),
            (o, _, fail) =>
            {
                if (!double.IsFinite(o.LengthPenalty))
                    fail($"must be a finite number (got {F(o.LengthPenalty)})");
            }),
        new("early_stopping", GenerationParameterType.Boolean,
            "Beam search stops once num_beams finished hypotheses exist.",
            o => o.EarlyStopping, Bool((o, v) => o with { EarlyStopping = v })),
        new("repetition_penalty", GenerationParameterType.Number,
            "Scores of tokens already in the decoder input are divided by it (multiplied when negative); finite and greater than 0, 1 turns it off.",
            o => o.RepetitionPenalty, Number((o, v) => o with { RepetitionPenalty = v }),
            (o, _, fail) =>
            {
                if (!(o.RepetitionPenalty > 0) || !double.IsFinite(o.RepetitionPenalty))
                    fail($"must be a finite number greater than 0, where 1 turns it off (got {F(o.RepetitionPenalty)})");
            }) { Minimum = 0, MinimumExclusive = true },
        new("frequency_penalty", GenerationParameterType.Number,
            "OpenAI's additive penalty: the score of a token generated c times so far is lowered by c times it; -2 to 2, 0 turns it off.",
            o => o.FrequencyPenalty, Number((o, v) => o with { FrequencyPenalty = v }),
            (o, _, fail) => Penalty(o.FrequencyPenalty, fail)) { Minimum = -MaxOccurrencePenalty, Maximum = MaxOccurrencePenalty, InGenerationConfig = false },
        new("presence_penalty", GenerationParameterType.Number,
            "OpenAI's additive penalty: the score of a token generated at least once so far is lowered by it; -2 to 2, 0 turns it off.",
            o => o.PresencePenalty, Number((o, v) => o with { PresencePenalty = v }),
            (o, _, fail) => Penalty(o.PresencePenalty, fail)) { Minimum = -MaxOccurrencePenalty, Maximum = MaxOccurrencePenalty, InGenerationConfig = false },
        new("no_repeat_ngram_size", GenerationParameterType.Integer,
            "No n-gram of this size occurs twice in the decoder input; 0 turns it off.",
            o => o.NoRepeatNgramSize, Int((o, v) => o with { NoRepeatNgramSize = v }),
            (o, _, fail) =>
            {
                if (o.NoRepeatNgramSize < 0)
                    fail($"must be at least 0, where 0 turns it off (got {o.NoRepeatNgramSize})");
            }) { Minimum = 0 },
        new("stop_strings", GenerationParameterType.StringList,
            $"Generation ends at the first occurrence of any, which is cut off; at most {MaxStopStrings}, each 1 to {MaxStopStringLength} characters.",
            o => o.StopStrings, ReadStopStrings,
            (o, _, fail) =>
            {
                var stops = o.StopStrings ?? [];
                if (stops.Count > MaxStopStrings)
                    fail($"must hold at most {MaxStopStrings} strings (got {stops.Count})");
                for (var i = 0; i < stops.Count; i++)
                {
                    var length = stops[i]?.Length ?? 0;
                    if (length < 1 || length > MaxStopStringLength)
                        fail($"must hold strings between 1 and {MaxStopStringLength} characters long (entry {i} has {length})");
                }
            }) { InGenerationConfig = false },
        new("truncation", GenerationParameterType.String,
            "What to do with a prompt longer than the context window: none (reject it), keep_start or keep_end.",
            o => Enum.IsDefined(o.Truncation) ? TruncationNames[(int)o.Truncation] : null, ReadTruncation,
            (o, _, fail) =>
            {
                if (!Enum.IsDefined(o.Truncation))
                    fail($"must be none, keep_start or keep_end (got {(int)o.Truncation})");
            }) { AllowedValues = TruncationNames, InGenerationConfig = false },
    ];

    private static readonly Dictionary<string, GenerationParameter> ByName = All.ToDictionary(p => p.Name, StringComparer.Ordinal);

    /// <summary>Finds a parameter by its Hugging Face name (case-sensitive, as HF: <c>top_p</c>, not <c>TopP</c>).</summary>
    /// <returns>Whether the engine knows the name; <paramref name="parameter"/> is null when not.</returns>
    public static bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out GenerationParameter? parameter) =>
        ByName.TryGetValue(name, out parameter);

    /// <summary>
    /// Applies a JSON object of parameters by their Hugging Face names (<c>{"max_new_tokens": 32, "num_beams": 4}</c>)
    /// over <paramref name="baseline"/>. A null value keeps the baseline's. Each unknown name and each value of the wrong
    /// type is reported to <paramref name="onError"/> (name, message) and skipped; ranges are not checked here
    /// (<see cref="GenerationOptions.Validate"/>, and every generate call, check them).
    /// </summary>
    /// <param name="baseline">The options to start from, e.g. <c>model.DefaultGenerationOptions</c>.</param>
    /// <param name="parameters">A JSON object.</param>
    /// <param name="onError">Called with the parameter's name and the problem, once per rejected entry.</param>
    /// <returns>A copy of <paramref name="baseline"/> with every accepted entry set.</returns>
    /// <exception cref="ArgumentException"><paramref name="parameters"/> is not a JSON object.</exception>
    public static GenerationOptions Apply(GenerationOptions baseline, JsonElement parameters, Action<string, string> onError)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(onError);
        if (parameters.ValueKind != JsonValueKind.Object)
            throw new ArgumentException($"Generation parameters must be a JSON object; got {parameters.ValueKind}.", nameof(parameters));
        var options = baseline;
        foreach (var property in parameters.EnumerateObject())
        {
            if (!TryGet(property.Name, out var parameter))
            {
                onError(property.Name, UnknownMessage);
                continue;
            }
            if (property.Value.ValueKind == JsonValueKind.Null)
                continue; // null means "the default"
            options = parameter.Read(options, property.Value, out var error);
            if (error is not null)
                onError(property.Name, error);
        }
        return options;
    }

    /// <summary>Every out-of-range parameter, each naming the parameter (snake_case, as in HF) and its allowed range.</summary>
    /// <param name="options">The options to check.</param>
    /// <param name="maxNewTokensCeiling">The host's upper bound for max_new_tokens (setting Inference__MaxNewTokensCeiling).</param>
    /// <returns>All errors at once, in parameter order; empty when the options are usable.</returns>
    internal static IReadOnlyList<OptionError> Validate(GenerationOptions options, int maxNewTokensCeiling)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxNewTokensCeiling);
        List<OptionError>? errors = null;
        List<string> messages = [];
        Action<string> fail = messages.Add; // one delegate per call: this runs on every generate call
        foreach (var parameter in All)
        {
            parameter.Check(options, maxNewTokensCeiling, fail);
            foreach (var message in messages)
                (errors ??= []).Add(new OptionError(parameter.Name, $"{parameter.Name} {message}"));
            messages.Clear();
        }
        return errors ?? (IReadOnlyList<OptionError>)[];
    }

    /// <summary>
    /// A model's <c>generation_config.json</c> (its root object) applied over <see cref="GenerationOptions"/>' defaults.
    /// Only the parameters marked <see cref="GenerationParameter.InGenerationConfig"/> are read; a value of the wrong
    /// type, and every other key (token ids and the like), is ignored, as Hugging Face ignores what it does not use.
    /// </summary>
    internal static GenerationOptions FromGenerationConfig(JsonElement root)
    {
        var options = new GenerationOptions();
        if (root.ValueKind != JsonValueKind.Object)
            return options;
        foreach (var parameter in All)
        {
            if (parameter.InGenerationConfig && root.TryGetProperty(parameter.Name, out var value) && value.ValueKind != JsonValueKind.Null)
                options = parameter.Read(options, value, out _);
        }
        return options;
    }

    /// <summary>
    /// Reads <c>name=value</c> as typed on a command line: the value is JSON when it parses as JSON
    /// (<c>64</c>, <c>true</c>, <c>["a","b"]</c>), otherwise the text itself (<c>keep_start</c>).
    /// </summary>
    /// <exception cref="ArgumentException">There is no '=' or no name before it.</exception>
    internal static (string Name, JsonElement Value) ParseAssignment(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var eq = text.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0)
            throw new ArgumentException($"'{text}' is not name=value (e.g. max_new_tokens=64).");
        return (text[..eq].Trim(), ParseValue(text[(eq + 1)..]));
    }

    /// <summary>A value as typed on a command line: JSON when it parses as JSON, otherwise the text itself.</summary>
    internal static JsonElement ParseValue(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        try
        {
            using var document = JsonDocument.Parse(text);
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return JsonSerializer.SerializeToElement(text);
        }
    }

    /// <summary>The message for a name the table does not hold.</summary>
    internal static string UnknownMessage { get; } = $"Unknown parameter. Known: {string.Join(", ", All.Select(p => p.Name))}.";

    private static string F(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static GenerationParameter.Reader Int(Func<GenerationOptions, int, GenerationOptions> set) =>
        (GenerationOptions o, JsonElement v, out string? error) =>
        {
            if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i))
            {
                error = null;
                return set(o, i);
            }
            error = "Must be an integer.";
            return o;
        };

    private static GenerationParameter.Reader Number(Func<GenerationOptions, double, GenerationOptions> set) =>
        (GenerationOptions o, JsonElement v, out string? error) =>
        {
            if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && double.IsFinite(d))
            {
                error = null;
                return set(o, d);
            }
            error = "Must be a number.";
            return o;
        };

    private static GenerationParameter.Reader Bool(Func<GenerationOptions, bool, GenerationOptions> set) =>
        (GenerationOptions o, JsonElement v, out string? error) =>
        {
            if (v.ValueKind is JsonValueKind.True or JsonValueKind.False)
            {
                error = null;
                return set(o, v.GetBoolean());
            }
            error = "Must be true or false.";
            return o;
        };

    private static GenerationOptions ReadSeed(GenerationOptions o, JsonElement v, out string? error)
    {
        if (v.ValueKind == JsonValueKind.Number && v.TryGetUInt64(out var seed))
        {
            error = null;
            return o with { Seed = seed };
        }
        error = "Must be a non-negative integer.";
        return o;
    }

    private static GenerationOptions ReadStopStrings(GenerationOptions o, JsonElement v, out string? error)
    {
        error = null;
        if (v.ValueKind == JsonValueKind.String)
            return o with { StopStrings = [v.GetString()!] };
        if (v.ValueKind == JsonValueKind.Array && v.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String))
            return o with { StopStrings = v.EnumerateArray().Select(e => e.GetString()!).ToArray() };
        error = "Must be a string or an array of strings.";
        return o;
    }

    private static GenerationOptions ReadTruncation(GenerationOptions o, JsonElement v, out string? error)
    {
        error = null;
        // false is accepted as "none", as the tokenizers' own truncation=False.
        if (v.ValueKind == JsonValueKind.False)
            return o with { Truncation = Truncation.None };
        if (v.ValueKind == JsonValueKind.String && Array.IndexOf(TruncationNames, v.GetString()) is int index and >= 0)
            return o with { Truncation = (Truncation)index };
        error = "Must be \"keep_start\" (keep the first tokens), \"keep_end\" (keep the last tokens) or \"none\" (reject prompts longer than the context window).";
        return o;
    }
}
