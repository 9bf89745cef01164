using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Serverless.Jobs.Batching;
using Serverless.Jobs.Failover;

namespace Serverless.Jobs.Tests.Failover;

/// <summary>When the host stops, a queue invocation whose decode started may go on for the drain budget; one that never
/// reached a decode batch is stopped at once (so its job is handed back now); the budget is one deadline per instance.</summary>
public sealed class ShutdownDrainTests
{
    private static ShutdownDrain Drain(TimeSpan budget, CancellationToken stopping = default) =>
        new(new FailoverOptions { DrainBudget = budget, InstanceId = "test" }, stopping, TimeProvider.System, NullLogger<ShutdownDrain>.Instance);

    /// <summary>An invocation that reports when its token is cancelled; <paramref name="decoding"/> says it reached a
    /// decode batch first (what the scheduler marks).</summary>
    private static Task<TimeSpan> RunAsync(ShutdownDrain drain, CancellationToken host, bool decoding, TaskCompletionSource running)
    {
        var result = new TaskCompletionSource<TimeSpan>();
        _ = drain.RunAsync(async token =>
        {
            if (decoding) DecodeWatch.Current!.Started();
            running.SetResult();
            var clock = Stopwatch.StartNew();
            try
            {
                await Task.Delay(Timeout.Infinite, token);
            }
            catch (OperationCanceledException)
            {
                result.SetResult(clock.Elapsed);
            }
        }, host);
        return result.Task;
    }

    [Fact]
    public async Task A_job_not_started_is_stopped_at_once_when_the_host_stops()
    {
        using var host = new CancellationTokenSource();
        var running = new TaskCompletionSource();
        var stopped = RunAsync(Drain(TimeSpan.FromSeconds(30)), host.Token, decoding: false, running);
        await running.Task;
        await host.CancelAsync();
        await stopped.WaitAsync(TimeSpan.FromSeconds(5)); // the budget is 30 s
    }

    [Fact]
    public async Task A_started_decode_runs_on_until_the_budget_ends()
    {
        using var host = new CancellationTokenSource();
        var running = new TaskCompletionSource();
        var stopped = RunAsync(Drain(TimeSpan.FromSeconds(1)), host.Token, decoding: true, running);
        await running.Task;
        var clock = Stopwatch.StartNew();
        await host.CancelAsync();
        await Task.Delay(300);
        Assert.False(stopped.IsCompleted, "the running decode was stopped before its budget");
        await stopped.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(0.9), $"stopped after {clock.Elapsed.TotalSeconds:F2} s");
    }

    [Fact]
    public async Task The_application_stopping_starts_the_drain_even_when_the_invocation_is_not_cancelled()
    {
        using var stopping = new CancellationTokenSource();
        var drain = Drain(TimeSpan.FromSeconds(30), stopping.Token);
        var running = new TaskCompletionSource();
        var stopped = RunAsync(drain, CancellationToken.None, decoding: false, running);
        await running.Task;
        await stopping.CancelAsync();
        await stopped.WaitAsync(TimeSpan.FromSeconds(5)); // the budget is 30 s
    }

    [Fact]
    public async Task The_budget_is_one_deadline_for_the_instance()
    {
        var drain = Drain(TimeSpan.FromSeconds(3));
        using var first = new CancellationTokenSource();
        using var second = new CancellationTokenSource();
        var firstRunning = new TaskCompletionSource();
        var secondRunning = new TaskCompletionSource();
        var firstStopped = RunAsync(drain, first.Token, decoding: true, firstRunning);
        var secondStopped = RunAsync(drain, second.Token, decoding: true, secondRunning);
        await Task.WhenAll(firstRunning.Task, secondRunning.Task);
        var clock = Stopwatch.StartNew();
        await first.CancelAsync();
        await Task.Delay(2000);
        // The host cancels its functions one after the other: the later one gets what is left, not a budget of its own.
        await second.CancelAsync();
        await Task.WhenAll(firstStopped, secondStopped).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4.2), $"the second invocation ran {clock.Elapsed.TotalSeconds:F2} s past the first stop (budget 3 s)");
    }

    [Fact]
    public async Task An_invocation_that_arrives_while_the_host_stops_is_stopped_at_once()
    {
        using var stopping = new CancellationTokenSource();
        await stopping.CancelAsync();
        var running = new TaskCompletionSource();
        var stopped = RunAsync(Drain(TimeSpan.FromSeconds(30), stopping.Token), CancellationToken.None, decoding: true, running);
        await running.Task;
        await stopped.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task With_failover_off_the_invocation_gets_the_hosts_own_token()
    {
        using var host = new CancellationTokenSource();
        var drain = new ShutdownDrain(new FailoverOptions { Enabled = false }, default, TimeProvider.System, NullLogger<ShutdownDrain>.Instance);
        CancellationToken seen = default;
        await drain.RunAsync(token =>
        {
            seen = token;
            return Task.CompletedTask;
        }, host.Token);
        Assert.Equal(host.Token, seen);
    }
}
