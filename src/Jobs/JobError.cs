namespace Serverless.Jobs;

/// <summary>Why a job failed (or, as <c>last_error</c>, why its last attempt failed): a stable code (see
/// <see cref="JobErrorCodes"/>) and a sentence.</summary>
internal sealed record JobError(string Code, string Message)
{
    /// <summary>The attempt (1-based) that hit this error, for <c>last_error</c>.</summary>
    public int? Attempt { get; init; }
    public DateTimeOffset? At { get; init; }
}
