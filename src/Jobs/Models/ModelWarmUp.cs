using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Serverless.Jobs.Models;

/// <summary>
/// Fetches and loads the model, and the submit's tokenizer, as soon as the instance starts rather than on its first
/// message: a new instance (a scale-out, a scale from zero) downloads and creates its ONNX Runtime sessions while the
/// Functions host is still starting, so its first job finds the model loaded or part-way there (docs/cold-start.md).
/// It goes through the same sources as the jobs: a job arriving meanwhile joins this load instead of starting a second,
/// and a failure is what a job would have met (recorded for <c>/api/health</c>, logged here, tried again by the next job).
/// </summary>
internal sealed class ModelWarmUp(IJobModelSource models, ITokenizerSource tokenizers, ILogger<ModelWarmUp> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield(); // the host's start does not wait for any of this
        logger.LogInformation("Model warm-up: started {SinceProcessStartMs:F0} ms after the process started ({StartedAt:O})",
            (DateTimeOffset.UtcNow - ModelLoadLog.ProcessStartedAt).TotalMilliseconds, DateTimeOffset.UtcNow);
        await Task.WhenAll(WarmAsync("tokenizer", tokenizers.AcquireAsync, stoppingToken), WarmAsync("model", async ct =>
        {
            using var lease = await models.AcquireAsync(ct).ConfigureAwait(false);
            return lease.Info;
        }, stoppingToken)).ConfigureAwait(false);
    }

    private async Task WarmAsync<T>(string what, Func<CancellationToken, Task<T>> acquire, CancellationToken stoppingToken)
    {
        try
        {
            await acquire(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down before the load finished.
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Model warm-up: the {What} could not be loaded; the first request that needs it tries again: {Reason}", what, e.Message);
        }
    }
}
