using System.Text.Json.Serialization;

namespace Serverless.Jobs;

/// <summary>Why a job failed (or, as <c>last_error</c>, why its last attempt failed): a stable code (see
/// <see cref="JobErrorCodes"/>) and a sentence.</summary>
internal sealed record JobError(string Code, string Message)
{
    /// <summary>The attempt (1-based) that hit this error, for <c>last_error</c>.</summary>
    public int? Attempt { get; init; }
    public DateTimeOffset? At { get; init; }

    /// <summary><see cref="Message"/> without the job text it quotes (part of a prompt), for logs and telemetry; null
    /// when it quotes none. The record and the API keep the whole message: the job's owner may read its own text.</summary>
    [JsonIgnore] public string? MessageWithoutText { get; init; }

    /// <summary>The message a log line or span may carry: with the quoted text only when <c>Telemetry__IncludeText</c> is on.</summary>
    public string MessageForTelemetry(bool includeText) => includeText || MessageWithoutText is null ? Message : MessageWithoutText;
}
