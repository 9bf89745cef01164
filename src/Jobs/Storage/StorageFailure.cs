using Azure;

namespace Serverless.Jobs.Storage;

internal static class StorageFailure
{
    /// <summary>
    /// A failed storage call: an error response (<see cref="RequestFailedException"/>) or, when the transport itself
    /// failed on every retry (refused, timed out), Azure.Core's <see cref="AggregateException"/> of them.
    /// </summary>
    public static bool Is(Exception e) => Is(e, static one => IsOneTry(one));

    /// <summary>
    /// As <see cref="Is(Exception)"/>, and also a cancellation that is not the caller's: while <paramref name="caller"/>
    /// (the token the storage call was given) is not cancelled, an <see cref="OperationCanceledException"/> came from
    /// inside the call. That is how Azure.Core ends a try that outlasts the client's network timeout: a
    /// <see cref="TaskCanceledException"/> ("exceeded the configured timeout") over the transport's own cancellation, with
    /// no <see cref="TimeoutException"/> anywhere inside, and after the last retry an <see cref="AggregateException"/> of them.
    /// Storage that slow (Azurite or an account under load) is unavailable, not a bug.
    /// </summary>
    public static bool Is(Exception e, CancellationToken caller) =>
        Is(e, one => IsOneTry(one) || one is OperationCanceledException && !caller.IsCancellationRequested);

    private static bool Is(Exception e, Func<Exception, bool> isOneTry) =>
        isOneTry(e) ||
        e is AggregateException { InnerExceptions.Count: > 0 } a && a.InnerExceptions.All(isOneTry);

    /// <summary>An error response or refused connection, or a try cancelled with a <see cref="TimeoutException"/> inside
    /// (HttpClient's own timeout; Azure.Core's per-try timeout has none: see <see cref="Is(Exception, CancellationToken)"/>).</summary>
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
