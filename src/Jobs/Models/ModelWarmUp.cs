using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Serverless.Inference.Model;
using Serverless.ModelStore;

namespace Serverless.Jobs.Models;

/// <summary>
/// Fetches and loads the model, and the submit's tokenizer, as soon as the instance starts rather than on its first
/// message: a new instance (a scale-out, a scale from zero) downloads and creates its ONNX Runtime sessions while the
/// Functions host is still starting, so its first job finds the model loaded or part-way there (docs/cold-start.md).
/// It loads through the providers the jobs use: a job arriving meanwhile joins this load instead of starting a second,
/// and a failure is what a job would have met (recorded for <c>/api/health</c>, logged here, tried again by the next job).
/// The first job to use the load logs where its time went (<see cref="ModelStoreJobModelSource"/>).
/// </summary>
internal sealed class ModelWarmUp(
    ModelProvider<T5Model> models, ITokenizerSource tokenizers, ModelReadiness readiness, ILogger<ModelWarmUp> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield(); // the host's start does not wait for any of this
        logger.LogInformation("Model warm-up: started {SinceProcessStartMs:F0} ms after the process started",
            (DateTimeOffset.UtcNow - ModelLoadLog.ProcessStartedAt).TotalMilliseconds);
        await Task.WhenAll(
            WarmAsync("tokenizer", async ct => await tokenizers.AcquireAsync(ct).ConfigureAwait(false), stoppingToken),
            WarmAsync("model", async ct =>
            {
                try
                {
                    using var lease = await models.AcquireAsync(ct).ConfigureAwait(false);
                    readiness.Succeeded();
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    readiness.Failed(e);
                    throw;
                }
            }, stoppingToken)).ConfigureAwait(false);
    }

    private async Task WarmAsync(string what, Func<CancellationToken, Task> acquire, CancellationToken stoppingToken)
    {
        try
        {
            await acquire(stoppingToken).ConfigureAwait(false);
            logger.LogInformation("Model warm-up: the {What} is loaded", what);
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
