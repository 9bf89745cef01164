using System.Text.Json;
using Serverless.Inference.Generation;

namespace Serverless.Jobs.Specs;

/// <summary>
/// Reads the <c>parameters</c> object (Hugging Face <c>generate</c> names, snake_case) into <see cref="GenerationOptions"/>.
/// Unknown names are rejected rather than ignored: a typo such as <c>max_tokens</c> would otherwise silently do nothing.
/// </summary>
internal static class GenerationParametersReader
{
    private delegate GenerationOptions Setter(GenerationOptions o, JsonElement value, out string? error);

    private static readonly Dictionary<string, Setter> Setters = new(StringComparer.Ordinal)
    {
        ["max_new_tokens"] = Int((o, v) => o with { MaxNewTokens = v }),
        ["min_new_tokens"] = Int((o, v) => o with { MinNewTokens = v }),
        ["do_sample"] = Bool((o, v) => o with { DoSample = v }),
        ["temperature"] = Number((o, v) => o with { Temperature = v }),
        ["top_k"] = Int((o, v) => o with { TopK = v }),
        ["top_p"] = Number((o, v) => o with { TopP = v }),
        ["seed"] = ReadSeed,
        ["num_beams"] = Int((o, v) => o with { NumBeams = v }),
        ["length_penalty"] = Number((o, v) => o with { LengthPenalty = v }),
        ["early_stopping"] = Bool((o, v) => o with { EarlyStopping = v }),
        ["repetition_penalty"] = Number((o, v) => o with { RepetitionPenalty = v }),
        ["no_repeat_ngram_size"] = Int((o, v) => o with { NoRepeatNgramSize = v }),
        ["stop_strings"] = ReadStopStrings,
        ["truncation"] = ReadTruncation,
    };

    public static IEnumerable<string> KnownNames => Setters.Keys;

    /// <summary>Reads <paramref name="parameters"/> (an object, or null/absent for the defaults); every problem goes to
    /// <paramref name="errors"/> under <c>parameters.{name}</c>, including the range checks of <see cref="GenerationOptions.Validate"/>.</summary>
    public static GenerationOptions Read(JsonElement? parameters, int maxNewTokensCeiling, SpecErrors errors)
    {
        var options = new GenerationOptions();
        if (parameters is not { } p || p.ValueKind == JsonValueKind.Null) return Validate(options, maxNewTokensCeiling, errors, []);
        if (p.ValueKind != JsonValueKind.Object)
        {
            errors.Add("parameters", "Must be a JSON object of generation parameters.");
            return options;
        }

        var bad = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in p.EnumerateObject())
        {
            if (!Setters.TryGetValue(property.Name, out var setter))
            {
                errors.Add($"parameters.{property.Name}", $"Unknown parameter. Known: {string.Join(", ", KnownNames)}.");
                continue;
            }
            if (property.Value.ValueKind == JsonValueKind.Null) continue; // null means "the default"
            options = setter(options, property.Value, out var error);
            if (error is not null)
            {
                errors.Add($"parameters.{property.Name}", error);
                bad.Add(property.Name);
            }
        }
        return Validate(options, maxNewTokensCeiling, errors, bad);
    }

    private static GenerationOptions Validate(GenerationOptions options, int ceiling, SpecErrors errors, HashSet<string> alreadyBad)
    {
        foreach (var e in options.Validate(ceiling))
            if (!alreadyBad.Contains(e.Parameter)) errors.Add($"parameters.{e.Parameter}", e.Message);
        return options;
    }

    private static Setter Int(Func<GenerationOptions, int, GenerationOptions> set) => (GenerationOptions o, JsonElement v, out string? error) =>
    {
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i)) { error = null; return set(o, i); }
        error = "Must be an integer.";
        return o;
    };

    private static Setter Number(Func<GenerationOptions, double, GenerationOptions> set) => (GenerationOptions o, JsonElement v, out string? error) =>
    {
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && double.IsFinite(d)) { error = null; return set(o, d); }
        error = "Must be a number.";
        return o;
    };

    private static Setter Bool(Func<GenerationOptions, bool, GenerationOptions> set) => (GenerationOptions o, JsonElement v, out string? error) =>
    {
        if (v.ValueKind is JsonValueKind.True or JsonValueKind.False) { error = null; return set(o, v.GetBoolean()); }
        error = "Must be true or false.";
        return o;
    };

    private static GenerationOptions ReadSeed(GenerationOptions o, JsonElement v, out string? error)
    {
        if (v.ValueKind == JsonValueKind.Number && v.TryGetUInt64(out var seed)) { error = null; return o with { Seed = seed }; }
        error = "Must be a non-negative integer.";
        return o;
    }

    private static GenerationOptions ReadStopStrings(GenerationOptions o, JsonElement v, out string? error)
    {
        error = null;
        if (v.ValueKind == JsonValueKind.String) return o with { StopStrings = [v.GetString()!] };
        if (v.ValueKind == JsonValueKind.Array && v.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String))
            return o with { StopStrings = v.EnumerateArray().Select(e => e.GetString()!).ToArray() };
        error = "Must be a string or an array of strings.";
        return o;
    }

    private static GenerationOptions ReadTruncation(GenerationOptions o, JsonElement v, out string? error)
    {
        error = null;
        switch (v.ValueKind)
        {
            case JsonValueKind.False: return o with { Truncation = Truncation.None };
            case JsonValueKind.String:
                switch (v.GetString())
                {
                    case "none": return o with { Truncation = Truncation.None };
                    case "keep_start": return o with { Truncation = Truncation.KeepStart };
                    case "keep_end": return o with { Truncation = Truncation.KeepEnd };
                }
                break;
        }
        error = "Must be \"keep_start\" (keep the first tokens), \"keep_end\" (keep the last tokens) or \"none\" (reject prompts longer than the context window).";
        return o;
    }
}
