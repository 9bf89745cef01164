using System.Text.Json;
using Serverless.Inference.Generation;

namespace Serverless.Jobs.Specs;

/// <summary>
/// Reads a job's <c>parameters</c> object through the engine's table of Hugging Face <c>generate</c> parameters
/// (<see cref="GenerationParameters"/>) and files every problem under <c>parameters.{name}</c>. Unknown names are
/// rejected rather than ignored: a typo such as <c>max_tokens</c> would otherwise silently do nothing.
/// </summary>
internal static class GenerationParametersReader
{
    /// <summary>Reads <paramref name="parameters"/> (an object, or null/absent for the defaults) over <paramref name="defaults"/>;
    /// every problem goes to <paramref name="errors"/>, including the range checks of <see cref="GenerationParameters.Validate"/>.</summary>
    public static GenerationOptions Read(JsonElement? parameters, GenerationOptions defaults, int maxNewTokensCeiling, SpecErrors errors)
    {
        if (parameters is not { } p || p.ValueKind == JsonValueKind.Null)
        {
            Validate(defaults, maxNewTokensCeiling, errors);
            return defaults;
        }
        if (p.ValueKind != JsonValueKind.Object)
        {
            errors.Add("parameters", "Must be a JSON object of generation parameters.");
            return defaults;
        }

        var bad = new HashSet<string>(StringComparer.Ordinal);
        var options = GenerationParameters.Apply(defaults, p, (name, message) =>
        {
            // The table's own list of every name, plus the nearest one to a typo.
            if (message == GenerationParameters.UnknownMessage) message += FieldHints.DidYouMean(name, GenerationParameters.All.Select(q => q.Name));
            errors.Add($"parameters.{name}", message);
            bad.Add(name);
        });
        Validate(options, maxNewTokensCeiling, errors, bad);
        return options;
    }

    /// <summary>Files each out-of-range parameter of <paramref name="options"/> under <c>parameters.{name}</c>, except those
    /// in <paramref name="alreadyBad"/> (a value of the wrong type is reported once).</summary>
    public static void Validate(GenerationOptions options, int maxNewTokensCeiling, SpecErrors errors, IReadOnlySet<string>? alreadyBad = null)
    {
        foreach (var e in GenerationParameters.Validate(options, maxNewTokensCeiling))
            if (alreadyBad is null || !alreadyBad.Contains(e.Parameter)) errors.Add($"parameters.{e.Parameter}", e.Message);
    }
}
