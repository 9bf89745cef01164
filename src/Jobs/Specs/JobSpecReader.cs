using System.Text.Json;
using Serverless.Inference.Generation;

namespace Serverless.Jobs.Specs;

/// <summary>Validates a job spec, naming every bad field. Shared by the HTTP submit and the queue worker so both apply
/// the same rules (the worker re-validates: a hand-dropped message never went through the API).</summary>
internal static class JobSpecReader
{
    /// <summary>Top-level names a hand-dropped JSON message must carry one of to be read as a job spec.</summary>
    public static readonly string[] SpecKeys = ["prompt", "prompts", "inputs", "parameters"];

    /// <param name="root">The parsed body or message.</param>
    /// <param name="allowId">Queue messages may carry their job id; HTTP bodies may not (the server assigns it).</param>
    /// <param name="extraField">Other top-level fields the caller reads itself (e.g. <c>stream</c>): returns true when it
    /// took the field; any field nobody takes is an error.</param>
    /// <param name="extraFieldNames">The names <paramref name="extraField"/> takes, listed in the unknown-field message.</param>
    /// <param name="overPromptLimit">Where more prompts than <paramref name="maxPrompts"/> should go, ending that error's message.</param>
    public static JobSpec? Read(JsonElement root, bool allowId, int maxPrompts, int maxNewTokensCeiling, SpecErrors errors,
        Func<JsonProperty, bool>? extraField = null, string overPromptLimit = "job. Split it into several jobs", IReadOnlyList<string>? extraFieldNames = null)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            errors.Add("body", "Must be a JSON object: {\"prompt\": \"...\", \"parameters\": {...}} or {\"prompts\": [\"...\"], ...}.");
            return null;
        }

        // Strings that cannot be read would throw wherever they are read below: report them all, by field, first.
        if (!JsonTextChecker.Check(root, errors)) return null;

        JsonElement? prompt = null, prompts = null, parameters = null;
        string? id = null;
        string promptName = "prompt", promptsName = "prompts";
        foreach (var property in root.EnumerateObject())
        {
            switch (property.Name)
            {
                case "prompt": prompt = property.Value; break;
                case "prompts": prompts = property.Value; break;
                // Hugging Face's name: a string is one prompt, an array several.
                case "inputs" when root.TryGetProperty("prompt", out _) || root.TryGetProperty("prompts", out _):
                    errors.Add("inputs", "Give 'inputs' or 'prompt'/'prompts', not both.");
                    break;
                case "inputs" when property.Value.ValueKind == JsonValueKind.Array:
                    prompts = property.Value; promptsName = "inputs"; break;
                case "inputs":
                    prompt = property.Value; promptName = "inputs"; break;
                case "parameters": parameters = property.Value; break;
                case "id" when allowId:
                    if (property.Value.ValueKind == JsonValueKind.String && JobId.IsValid(property.Value.GetString()))
                        id = property.Value.GetString();
                    else
                        errors.Add("id", $"Must be a string of 1 to {JobId.MaxLength} letters, digits or '-'.");
                    break;
                case Telemetry.JobsTelemetry.TraceParentField when allowId:
                    // Trace context written by the submit; read by the worker, not part of the job.
                    break;
                case var _ when extraField?.Invoke(property) == true:
                    break;
                default:
                    errors.Add(property.Name, UnknownField(property.Name, allowId, extraFieldNames ?? []));
                    break;
            }
        }

        var list = new List<string>();
        if (prompt is not null && prompts is not null)
        {
            errors.Add(promptName, $"Give either '{promptName}' (one string) or '{promptsName}' (an array), not both.");
        }
        else if (prompt is { } single)
        {
            if (single.ValueKind != JsonValueKind.String) errors.Add(promptName, "Must be a string.");
            else if (string.IsNullOrWhiteSpace(single.GetString())) errors.Add(promptName, "Must not be empty.");
            else list.Add(single.GetString()!);
        }
        else if (prompts is { } many)
        {
            if (many.ValueKind != JsonValueKind.Array)
            {
                errors.Add(promptsName, "Must be an array of strings.");
            }
            else
            {
                var count = many.GetArrayLength();
                if (count == 0) errors.Add(promptsName, "Must hold at least one prompt.");
                else if (count > maxPrompts) errors.Add(promptsName, $"Holds {count} prompts; at most {maxPrompts} are allowed per {overPromptLimit}.");
                var i = 0;
                foreach (var item in many.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.String) errors.Add($"{promptsName}[{i}]", "Must be a string.");
                    else if (string.IsNullOrWhiteSpace(item.GetString())) errors.Add($"{promptsName}[{i}]", "Must not be empty.");
                    else list.Add(item.GetString()!);
                    i++;
                }
            }
        }
        else
        {
            errors.Add("prompt", "Required: give 'prompt' or 'inputs' (a string), or 'prompts' (an array of strings).");
        }

        // Checked over the Hugging Face defaults here; the submit and the worker check them again over the model's.
        GenerationParametersReader.Read(parameters, new GenerationOptions(), maxNewTokensCeiling, errors);
        if (errors.Any) return null;
        return new JobSpec(id, list, parameters is { ValueKind: JsonValueKind.Object } p ? p.Clone() : null, prompts is not null);
    }

    /// <summary>Every field the body may hold (the spec's, the queue's id, the caller's), and the nearest to a typo; a
    /// generation parameter put at the top level is pointed into <c>parameters</c>.</summary>
    private static string UnknownField(string name, bool allowId, IReadOnlyList<string> extra)
    {
        string[] known = [.. SpecKeys, .. allowId ? ["id"] : Array.Empty<string>(), .. extra];
        var parameterNames = GenerationParameters.All.Select(p => p.Name).ToList();
        var hint = FieldHints.DidYouMean(name, known);
        if (hint.Length == 0 && FieldHints.DidYouMean(name, parameterNames) is { Length: > 0 } parameterHint)
            hint = parameterHint.Replace("?", " inside \"parameters\"?", StringComparison.Ordinal);
        return $"Unknown field. Expected: prompt, prompts or inputs, and optionally {string.Join(", ", known.Skip(3))}.{hint}";
    }
}
