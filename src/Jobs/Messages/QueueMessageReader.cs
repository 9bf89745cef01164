using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Serverless.Jobs.Specs;
using Serverless.Jobs.Storage;
using Serverless.Jobs.Telemetry;

namespace Serverless.Jobs.Messages;

internal enum MessageKind
{
    /// <summary>A JSON object with <c>prompt</c>/<c>prompts</c>/<c>parameters</c>: a job spec (validated later).</summary>
    Spec,
    /// <summary>A JSON object <c>{"id", "input": "blob"}</c>: the spec is in <c>jobs/_inputs/{id}.json</c> (too large for a message).</summary>
    SpecInBlob,
    /// <summary>Anything else: the text is the prompt.</summary>
    Prompt,
    /// <summary>Not usable (empty, Base64-encoded, malformed JSON, a bad id): fails the job at once.</summary>
    Invalid,
}

/// <summary>What a queue message is, and which job it belongs to.</summary>
/// <param name="TraceParent">The W3C trace context the submit wrote into the message; null for a hand-dropped one.</param>
internal sealed record ParsedMessage(MessageKind Kind, string JobId, bool HasExplicitId, string Text, JsonElement? Json, JobError? Error,
    string? TraceParent = null);

/// <summary>Classifies a queue message (plain text, <c>messageEncoding: none</c>).</summary>
internal static class QueueMessageReader
{
    public static ParsedMessage Read(string? text, string messageId)
    {
        var fallbackId = JobId.IsValid(messageId) ? messageId : "msg-" + ContentHash(messageId ?? "")[..32];
        text ??= "";
        // A byte order mark is not text (char.IsWhiteSpace('\uFEFF') is false, so Trim alone keeps it).
        var trimmed = text.Trim().TrimStart('\uFEFF').Trim();

        if (trimmed.Length == 0)
            return Invalid(fallbackId, text, "The queue message is empty. Send the prompt text itself, or a JSON job spec such as {\"prompt\": \"...\", \"parameters\": {...}}.");

        if (TryDecodeBase64Text(trimmed) is { } decoded)
        {
            const string resend = ", but this queue takes plain text (host.json sets the queue messageEncoding to \"none\"). Resend it as plain " +
                "text: in Azure Storage Explorer untick 'Encode message body in Base64' when adding the message, or use " +
                "`az storage message put --content \"...\"` or `serverless jobs enqueue`.";
            return Invalid(fallbackId, text, "The queue message is Base64-encoded (it decodes to the text \"" + Excerpt(decoded) + "\")" + resend,
                withoutText: $"The queue message is Base64-encoded (it decodes to a text of {decoded.Length} characters){resend}");
        }

        if (trimmed[0] == '{')
        {
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(trimmed);
            }
            catch (JsonException e) when (LooksLikeJsonObject(trimmed))
            {
                // An attempt at a JSON spec (a truncated file, a missing comma): running it as a prompt would hide the mistake.
                var where = e.LineNumber is { } line ? $" at line {line + 1}, position {(e.BytePositionInLine ?? 0) + 1}" : "";
                return Invalid(fallbackId, text, $"The queue message looks like a JSON job spec but is not valid JSON{where}: {ParseReason(e)} " +
                    "Fix the JSON, or send plain text that does not start with '{\"' if the message is meant as the prompt itself.");
            }
            catch (JsonException)
            {
                // Text that merely starts with a brace ("{x} is a placeholder") is a prompt.
                return new ParsedMessage(MessageKind.Prompt, fallbackId, false, trimmed, null, null);
            }

            var root = document.RootElement.Clone();
            document.Dispose();
            var textErrors = new SpecErrors();
            if (!JsonTextChecker.Check(root, textErrors))
            {
                // Reading it on would throw before any record exists. Fail it under the spec's own id when that one is
                // readable and valid (a submitted spec), else under the message id.
                return Invalid(ReadableSpecId(root) ?? fallbackId, text, "The job spec is invalid: " + textErrors);
            }
            var isSpec = JobSpecReader.SpecKeys.Any(k => root.TryGetProperty(k, out _));
            var isSpecInBlob = !isSpec && root.TryGetProperty("input", out var input) && input.ValueKind == JsonValueKind.String && input.GetString() == "blob";
            if (isSpec || isSpecInBlob)
            {
                var hasId = root.TryGetProperty("id", out var idElement);
                if (hasId && (idElement.ValueKind != JsonValueKind.String || !JobId.IsValid(idElement.GetString())))
                    return Invalid(fallbackId, text, $"The job spec's id must be a string of 1 to {JobId.MaxLength} letters, digits or '-'.");
                if (isSpecInBlob && !hasId)
                    return Invalid(fallbackId, text, "A message with \"input\": \"blob\" must carry the job id.");
                var traceParent = root.TryGetProperty(JobsTelemetry.TraceParentField, out var tp) && tp.ValueKind == JsonValueKind.String ? tp.GetString() : null;
                return new ParsedMessage(isSpec ? MessageKind.Spec : MessageKind.SpecInBlob, hasId ? idElement.GetString()! : fallbackId, hasId, text, root, null, traceParent);
            }
            // Some other JSON object: by the queue's contract, anything that is not a job spec is the prompt itself.
        }

        return new ParsedMessage(MessageKind.Prompt, fallbackId, false, trimmed, null, null);
    }

    /// <summary>
    /// The rule for a message that starts with <c>{</c>: it is meant as JSON when the brace is followed by a quote or a
    /// closing brace (<c>{"</c>, <c>{'</c>, <c>{}</c>, blanks allowed between) or the message also ends with <c>}</c>.
    /// Anything else that starts with a brace (<c>{x} is a placeholder</c>) is plain text.
    /// </summary>
    internal static bool LooksLikeJsonObject(string trimmed)
    {
        if (trimmed.Length == 0 || trimmed[0] != '{') return false;
        if (trimmed[^1] == '}') return true;
        var next = trimmed.AsSpan(1).TrimStart();
        return next.Length == 0 || next[0] is '"' or '\'' or '}';
    }

    /// <summary>The parser's reason without its own position suffix (the caller states line and position once, 1-based).</summary>
    private static string ParseReason(JsonException e)
    {
        var message = e.Message;
        var cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return (cut > 0 ? message[..cut] : message).TrimEnd().TrimEnd('.') + ".";
    }

    private static string? ReadableSpecId(JsonElement root)
    {
        foreach (var property in root.EnumerateObject())
        {
            try
            {
                if (property.Name == "id" && property.Value.ValueKind == JsonValueKind.String && property.Value.GetString() is { } id && JobId.IsValid(id))
                    return id;
            }
            catch (InvalidOperationException)
            {
                // An unreadable name or value is not the id.
            }
        }
        return null;
    }

    /// <summary>SHA-256 of the message text (UTF-8), lower-case hex: the key of the content index.</summary>
    public static string ContentHash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    /// <summary>
    /// The decoded text if <paramref name="s"/> is Base64 that decodes to printable UTF-8 text — what a tool that Base64-encodes
    /// message bodies produces. Real prompts rarely qualify: they contain spaces or punctuation outside the Base64 alphabet,
    /// and the few single words that are valid Base64 decode to bytes that are not valid UTF-8 text.
    /// </summary>
    internal static string? TryDecodeBase64Text(string s)
    {
        if (s.Length < 4 || s.Length % 4 != 0) return null;
        foreach (var c in s)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '+' or '/' or '=')) return null;
        var bytes = new byte[s.Length / 4 * 3];
        if (!Convert.TryFromBase64String(s, bytes, out var written) || written == 0) return null;
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes, 0, written);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
        foreach (var c in text)
            if (char.IsControl(c) && c is not ('\n' or '\r' or '\t')) return null;
        return text;
    }

    private static string Excerpt(string s) => s.Length <= 80 ? s : s[..77] + "...";

    /// <param name="withoutText">The message without the text it quotes, when it quotes some (see <see cref="JobError.MessageWithoutText"/>).</param>
    private static ParsedMessage Invalid(string id, string text, string message, string? withoutText = null) =>
        new(MessageKind.Invalid, id, false, text, null, new JobError(JobErrorCodes.InvalidMessage, message) { MessageWithoutText = withoutText });
}
