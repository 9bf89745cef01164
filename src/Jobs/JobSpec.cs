using System.Text.Json;
using Serverless.Inference.Generation;

namespace Serverless.Jobs;

/// <summary>A validated job: its prompts (in order) and its generation parameters as given (passed on verbatim in the
/// queue message, and applied over the model's own defaults with <see cref="OptionsOver"/> once the model is known).</summary>
internal sealed record JobSpec(string? Id, IReadOnlyList<string> Prompts, JsonElement? Parameters, bool IsList)
{
    /// <summary>The field a prompt came from, as the client wrote it: <c>prompt</c> or <c>prompts[i]</c>.</summary>
    public string FieldName(int index) => IsList ? $"prompts[{index}]" : "prompt";

    /// <summary>The job's parameters applied over <paramref name="defaults"/> (the model's <c>generation_config.json</c>):
    /// what the job set wins, the rest is the model's. The parameters were read once already, so they are well typed.</summary>
    public GenerationOptions OptionsOver(GenerationOptions defaults) => Parameters is { ValueKind: JsonValueKind.Object } parameters
        ? GenerationParameters.Apply(defaults, parameters, (name, error) =>
            throw new InvalidOperationException($"parameters.{name} was accepted once and is now invalid: {error}"))
        : defaults;

    /// <summary>The queue message form: <c>{"id", "prompts", "parameters", "traceparent"}</c>.</summary>
    /// <param name="traceParent">The submit's W3C trace context, so the worker continues its trace; null for none.</param>
    public string ToMessage(string id, string? traceParent = null)
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
            if (traceParent is not null) w.WriteString(Telemetry.JobsTelemetry.TraceParentField, traceParent);
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
