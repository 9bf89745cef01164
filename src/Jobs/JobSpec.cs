using System.Text.Json;
using Serverless.Inference.Generation;

namespace Serverless.Jobs;

/// <summary>A validated job: its prompts (in order), the generation options, and the parameters as given (passed on
/// verbatim in the queue message so the worker validates exactly what the submit validated).</summary>
internal sealed record JobSpec(string? Id, IReadOnlyList<string> Prompts, GenerationOptions Options, JsonElement? Parameters, bool IsList)
{
    /// <summary>The field a prompt came from, as the client wrote it: <c>prompt</c> or <c>prompts[i]</c>.</summary>
    public string FieldName(int index) => IsList ? $"prompts[{index}]" : "prompt";

    /// <summary>The queue message form: <c>{"id", "prompts", "parameters"}</c>.</summary>
    public string ToMessage(string id)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("id", id);
            w.WriteStartArray("prompts");
            foreach (var p in Prompts) w.WriteStringValue(p);
            w.WriteEndArray();
            if (Parameters is { ValueKind: JsonValueKind.Object } parameters)
            {
                w.WritePropertyName("parameters");
                parameters.WriteTo(w);
            }
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
