using System.Text.Json;
using System.Text.Json.Serialization;

namespace Serverless.Jobs.Batches;

/// <summary>OpenAI's JSON: snake_case; nulls kept where OpenAI's objects carry them (marked per property), else left out.</summary>
internal static class BatchJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>One JSONL line, compact.</summary>
    public static readonly JsonSerializerOptions Line = new(Options) { WriteIndented = false };
}
