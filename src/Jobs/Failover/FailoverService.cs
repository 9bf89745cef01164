using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Serverless.Jobs.Storage;

namespace Serverless.Jobs.Failover;

/// <summary>
/// Runs on every instance while it is up: the heartbeat loop, and a sweep for dead instances every
/// <see cref="FailoverOptions.SweepInterval"/> (the Functions app also sweeps from a timer trigger, which wakes an
/// instance when none is running). Sweeps by several instances at once are safe (see <see cref="FailoverSweeper"/>).
/// </summary>
internal sealed class FailoverService(InstanceHeartbeat heartbeat, FailoverSweeper sweeper, ShutdownDrain drain, FailoverOptions options, TimeProvider time,
    ILogger<FailoverService> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Enabled) return;
        logger.LogInformation("Failover: instance {InstanceId}, heartbeat every {Heartbeat}, dead after {DeadAfter}, sweep every {Sweep}",
            options.InstanceId, options.HeartbeatInterval, options.DeadAfter, options.SweepInterval);
        var beating = heartbeat.RunAsync(stoppingToken);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await sweeper.SweepAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (StorageFailure.Is(e) || e is InvalidOperationException or InvalidDataException)
            {
                logger.LogWarning(e, "Failover sweep failed; trying again in {Interval}", options.SweepInterval);
            }
            try
            {
                await Task.Delay(options.SweepInterval, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        await beating.ConfigureAwait(false);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // The heartbeat goes on while running jobs drain (ShutdownDrain) and hand back what is left: this instance is
        // alive until then, and what it still holds must stay listed.
        await drain.WhenIdleAsync(cancellationToken).ConfigureAwait(false);
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await heartbeat.StopAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (StorageFailure.Is(e) || e is OperationCanceledException)
        {
            logger.LogWarning(e, "Could not remove this instance's heartbeat on stop; a sweep removes it after {DeadAfter}", options.DeadAfter);
        }
    }
}
