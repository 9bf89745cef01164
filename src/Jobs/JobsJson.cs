using System.Text.Json;
using System.Text.Json.Serialization;

namespace Serverless.Jobs;

/// <summary>The one JSON shape of the wire and of the blobs: snake_case, nulls left out.</summary>
internal static class JobsJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };
}
