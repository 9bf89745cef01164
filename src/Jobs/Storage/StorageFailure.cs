using Azure;

namespace Serverless.Jobs.Storage;

internal static class StorageFailure
{
    /// <summary>
    /// A failed storage call: an error response (<see cref="RequestFailedException"/>) or, when the transport itself
    /// failed on every retry (refused, timed out), Azure.Core's <see cref="AggregateException"/> of them.
    /// </summary>
    public static bool Is(Exception e) =>
        IsOneTry(e) ||
        e is AggregateException { InnerExceptions.Count: > 0 } a && a.InnerExceptions.All(IsOneTry);

    /// <summary>An error response or refused connection, or a try that outlasted the client's network timeout
    /// (Azure.Core cancels it with a <see cref="TimeoutException"/> inside; a caller's own cancellation has none).</summary>
    private static bool IsOneTry(Exception e) =>
        e is RequestFailedException || e is OperationCanceledException { InnerException: TimeoutException };

    public static string Describe(Exception e) => e switch
    {
        RequestFailedException r => $"Storage request failed ({r.Status} {r.ErrorCode}): {FirstLine(r.Message)}",
        AggregateException { InnerExceptions: [var first, ..] } a => $"Storage unreachable after {a.InnerExceptions.Count} tries: {FirstLine(first.Message)}",
        _ => e.Message,
    };

    private static string FirstLine(string s) => s.Split('\n', 2)[0].Trim();
}
