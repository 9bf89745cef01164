using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Serverless.Jobs;

/// <summary>The one JSON shape of the wire and of the blobs: snake_case, nulls left out.</summary>
internal static class JobsJson
{
    /// <summary>
    /// The wire and the blobs. Text is written as characters (UTF-8): <c>'</c>, <c>&lt;/s&gt;</c>, <c>▁</c> and other
    /// non-ASCII appear as README shows them instead of <c>\u0027</c>, <c>\u003C/s\u003E</c>, <c>\u2581</c>.
    /// <c>"</c>, <c>\</c> and control characters are still escaped, as JSON requires. Writing <c>&lt;</c>, <c>&gt;</c> and
    /// <c>&amp;</c> raw is safe because every response written with these options is <c>application/json</c>,
    /// <c>application/problem+json</c> or <c>text/event-stream</c> (all with <c>X-Content-Type-Options: nosniff</c> from
    /// the host), never parsed as HTML; JSON embedded in an HTML page uses <see cref="HtmlSafeOptions"/>.
    /// </summary>
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>
    /// JSON placed inside an HTML document (the playground's <c>&lt;script type="application/json"&gt;</c>): the default
    /// encoder escapes <c>&lt;</c>, <c>&gt;</c>, <c>&amp;</c> and quotes, so a value such as <c>&lt;/script&gt;</c> cannot end
    /// the element.
    /// </summary>
    public static readonly JsonSerializerOptions HtmlSafeOptions = new(Options) { Encoder = JavaScriptEncoder.Default };
}
