using Azure;
using Azure.Storage.Queues;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;
using Serverless.Jobs.Http;
using Serverless.Jobs.Models;
using Serverless.Jobs.Storage;

namespace Serverless.Jobs;

/// <summary>
/// <c>GET /api/health</c>: can this instance serve? Storage reachable (the job queue's properties read), the model loaded
/// or not and which version (never loads it: a probe must stay cheap), and the length of the job queue and its poison
/// queue. 200 when storage answers (a model not loaded yet is loaded by the first job); 503 <c>unhealthy</c> with the reason
/// when it does not; 503 <c>not_ready</c> with <c>model.error</c> when the last attempt to load the model failed for a
/// reason only an operator can fix (nothing uploaded, an incomplete or damaged upload, files the engine cannot read): the
/// instance cannot serve, so a load balancer or probe should not send it work, and retrying will not help (no
/// <c>Retry-After</c>). The error is cleared by the next successful load, which the next job or request attempts.
/// </summary>
public sealed class HealthApi
{
    private readonly QueueClient _queue;
    private readonly QueueClient _poison;
    private readonly Func<string?> _loadedVersion;
    private readonly PromptJobsOptions _options;
    private readonly ILogger<HealthApi> _logger;
    private readonly ModelReadiness? _readiness;

    internal HealthApi(QueueServiceClient queues, Func<string?> loadedVersion, PromptJobsOptions options, ILogger<HealthApi> logger,
        ModelReadiness? readiness = null)
    {
        _readiness = readiness;
        _queue = queues.GetQueueClient(options.QueueName);
        _poison = queues.GetQueueClient(options.QueueName + "-poison");
        _loadedVersion = loadedVersion;
        _options = options;
        _logger = logger;
    }

    public async Task<IActionResult> GetAsync(CancellationToken cancellationToken)
    {
        var version = _loadedVersion();
        var modelError = _readiness?.Error;
        var model = new HealthModel(version is not null, version, modelError);
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(_options.HttpStorageCallTimeout * 2);
        try
        {
            var length = await LengthAsync(_queue, budget.Token).ConfigureAwait(false);
            var poisoned = await LengthAsync(_poison, budget.Token).ConfigureAwait(false);
            var queues = new HealthQueues(_queue.Name, length, _poison.Name, poisoned);
            if (modelError is not null)
            {
                return new JobsHttpResult(503, new HealthResponse("not_ready", "The model cannot be loaded: " + modelError, true, model, queues))
                    .WithHeader("Cache-Control", "no-store");
            }

            return new JobsHttpResult(200, new HealthResponse("healthy", null, true, model, queues))
                .WithHeader("Cache-Control", "no-store");
        }
        catch (Exception e) when (StorageFailure.Is(e, cancellationToken))
        {
            var reason = e is OperationCanceledException ? "Storage did not answer in time." : "Storage is unreachable: " + StorageFailure.Describe(e);
            _logger.LogWarning("Health check: {Reason}", reason);
            return new JobsHttpResult(503, new HealthResponse("unhealthy", reason, false, model, null))
                .WithHeader("Cache-Control", "no-store")
                .WithHeader("Retry-After", Math.Max(_options.RetryAfterSeconds, 5).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Approximate message count; a queue not created yet (no job submitted, nothing poisoned) holds none.</summary>
    private static async Task<int> LengthAsync(QueueClient queue, CancellationToken cancellationToken)
    {
        try
        {
            return (await queue.GetPropertiesAsync(cancellationToken).ConfigureAwait(false)).Value.ApproximateMessagesCount;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return 0;
        }
    }
}
