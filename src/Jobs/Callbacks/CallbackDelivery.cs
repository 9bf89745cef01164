namespace Serverless.Jobs.Callbacks;

/// <summary>How the callback of a finished job went, on its record as <c>callback</c>: <c>delivered</c> (a 2xx) or
/// <c>failed</c> (the last try's status code or error), after how many tries. Never changes the job's status.</summary>
internal sealed record CallbackDelivery(string State, int Attempts, DateTimeOffset At, int? StatusCode = null, string? Error = null)
{
    public const string Delivered = "delivered";
    public const string Failed = "failed";
}
