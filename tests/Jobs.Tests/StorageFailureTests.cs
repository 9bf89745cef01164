using Azure;
using Serverless.Jobs.Storage;

namespace Serverless.Jobs.Tests;

/// <summary>Which exceptions are storage trouble (503 on the HTTP path) and which are not.</summary>
public sealed class StorageFailureTests
{
    // The shape Azure.Core gives a try cut by Retry.NetworkTimeout (see UnexpectedFailureTests for the real thing).
    private static TaskCanceledException TimedOutTry() =>
        new("The operation was cancelled because it exceeded the configured timeout of 0:00:05.", new TaskCanceledException("The operation was canceled."));

    [Fact]
    public void Tries_that_timed_out_or_failed_are_a_storage_failure_while_the_caller_has_not_cancelled()
    {
        var retriesGaveUp = new AggregateException(TimedOutTry(), new RequestFailedException(0, "Connection reset"), TimedOutTry());

        Assert.True(StorageFailure.Is(retriesGaveUp, CancellationToken.None));
        Assert.True(StorageFailure.Is(TimedOutTry(), CancellationToken.None));
    }

    [Fact]
    public void The_callers_own_cancellation_is_not_a_storage_failure()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        Assert.False(StorageFailure.Is(new OperationCanceledException(cancelled.Token), cancelled.Token));
        Assert.False(StorageFailure.Is(new AggregateException(TimedOutTry(), new OperationCanceledException(cancelled.Token)), cancelled.Token));
    }

    [Fact]
    public void Other_exceptions_are_not_storage_failures()
    {
        Assert.False(StorageFailure.Is(new InvalidDataException("not a record"), CancellationToken.None));
        Assert.False(StorageFailure.Is(new AggregateException(new RequestFailedException(503, "busy"), new InvalidOperationException()), CancellationToken.None));
    }
}
