using Microsoft.Extensions.Logging;
using Serverless.Inference.Generation;
using Serverless.Inference.Tokenization;

namespace Serverless.Jobs.Models;

/// <summary>What a submit checks a job against: the model's tokenizer and context window, and its generation defaults
/// (<c>generation_config.json</c>), which the job's parameters are applied over as the worker will.</summary>
internal sealed record SubmitModel(T5Tokenizer Tokenizer, int ContextWindow, GenerationOptions Defaults);

/// <summary>
/// The <see cref="SubmitModel"/> for submit-time checks, fetched from the model source once per process.
/// Never fails a submit: if the model is not there (not uploaded yet, still downloading) the job is accepted unchecked
/// and the worker decides. A failed load is retried at most every <see cref="PromptJobsOptions.ModelRetryAfterSeconds"/>
/// so a missing model does not cost every request a storage round trip.
/// </summary>
internal sealed class PromptLengthChecker(IJobModelSource models, PromptJobsOptions options, TimeProvider time, ILogger<PromptLengthChecker> logger)
{
    private readonly object _gate = new();
    private Task<SubmitModel>? _load;
    private DateTimeOffset _failedAt;

    /// <summary>The model's tokenizer, window and defaults, or null when they are not available within the submit's wait.</summary>
    public async Task<SubmitModel?> TryGetAsync(CancellationToken cancellationToken)
    {
        Task<SubmitModel> load;
        lock (_gate)
        {
            if (_load is { IsFaulted: true } or { IsCanceled: true } &&
                time.GetUtcNow() - _failedAt >= TimeSpan.FromSeconds(options.ModelRetryAfterSeconds))
                _load = null;
            if (_load is { IsFaulted: true } or { IsCanceled: true })
                return null;
            _load ??= LoadAsync();
            load = _load;
        }
        try
        {
            return await load.WaitAsync(TimeSpan.FromSeconds(options.SubmitTokenizerWaitSeconds), time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            logger.LogInformation("The model is still loading after {WaitSeconds} s; accepting the job without the context-window check (the worker checks it)",
                options.SubmitTokenizerWaitSeconds);
            return null;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning(e, "The model could not be loaded for the context-window check; accepting the job unchecked (the worker checks it): {Reason}", e.Message);
            return null;
        }
    }

    private async Task<SubmitModel> LoadAsync()
    {
        try
        {
            // Not the request's token: the load outlives a request that stopped waiting, and serves the next ones.
            using var lease = await models.AcquireAsync(CancellationToken.None).ConfigureAwait(false);
            return new SubmitModel(lease.Model.Tokenizer, lease.Model.ContextWindow, lease.Model.DefaultGenerationOptions);
        }
        catch
        {
            lock (_gate) _failedAt = time.GetUtcNow();
            throw;
        }
    }
}
