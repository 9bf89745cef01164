using System.Text.Json;
using Serverless.Inference.Generation;

namespace Serverless.Jobs.Specs;

/// <summary>Validates a job spec, naming every bad field. Shared by the HTTP submit and the queue worker so both apply
/// the same rules (the worker re-validates: a hand-dropped message never went through the API).</summary>
internal static class JobSpecReader
{
    /// <summary>Top-level names a hand-dropped JSON message must carry one of to be read as a job spec.</summary>
    public static readonly string[] SpecKeys = ["prompt", "prompts", "parameters"];

    /// <param name="root">The parsed body or message.</param>
    /// <param name="allowId">Queue messages may carry their job id; HTTP bodies may not (the server assigns it).</param>
    public static JobSpec? Read(JsonElement root, bool allowId, int maxPrompts, int maxNewTokensCeiling, SpecErrors errors)
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
        foreach (var property in root.EnumerateObject())
        {
            switch (property.Name)
            {
                case "prompt": prompt = property.Value; break;
                case "prompts": prompts = property.Value; break;
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
                default:
                    errors.Add(property.Name, $"Unknown field. Expected: prompt or prompts, and optionally parameters{(allowId ? ", id" : "")}.");
                    break;
            }
        }

        var list = new List<string>();
        if (prompt is not null && prompts is not null)
        {
            errors.Add("prompt", "Give either 'prompt' (one string) or 'prompts' (an array), not both.");
        }
        else if (prompt is { } single)
        {
            if (single.ValueKind != JsonValueKind.String) errors.Add("prompt", "Must be a string.");
            else if (string.IsNullOrWhiteSpace(single.GetString())) errors.Add("prompt", "Must not be empty.");
            else list.Add(single.GetString()!);
        }
        else if (prompts is { } many)
        {
            if (many.ValueKind != JsonValueKind.Array) errors.Add("prompts", "Must be an array of strings.");
            else
            {
                var count = many.GetArrayLength();
                if (count == 0) errors.Add("prompts", "Must hold at least one prompt.");
                else if (count > maxPrompts) errors.Add("prompts", $"Holds {count} prompts; at most {maxPrompts} are allowed per job. Split it into several jobs.");
                var i = 0;
                foreach (var item in many.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.String) errors.Add($"prompts[{i}]", "Must be a string.");
                    else if (string.IsNullOrWhiteSpace(item.GetString())) errors.Add($"prompts[{i}]", "Must not be empty.");
                    else list.Add(item.GetString()!);
                    i++;
                }
            }
        }
        else
        {
            errors.Add("prompt", "Required: give 'prompt' (a string) or 'prompts' (an array of strings).");
        }

        // Checked over the Hugging Face defaults here; the submit and the worker check them again over the model's.
        GenerationParametersReader.Read(parameters, new GenerationOptions(), maxNewTokensCeiling, errors);
        if (errors.Any) return null;
        return new JobSpec(id, list, parameters is { ValueKind: JsonValueKind.Object } p ? p.Clone() : null, prompts is not null);
    }
}
