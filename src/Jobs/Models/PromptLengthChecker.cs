using Microsoft.Extensions.Logging;

namespace Serverless.Jobs.Models;

/// <summary>
/// The <see cref="SubmitModel"/> for submit-time checks (tokenizer, context window, generation defaults), from
/// <c>config.json</c>, <c>spiece.model</c> and <c>generation_config.json</c> only (<see cref="SubmitTokenizer"/>), asked
/// for on every submit so a refreshed model is followed. Never fails a submit: if the model is not there (not uploaded
/// yet, still downloading) the job is accepted unchecked and the worker decides. A failed load is retried at most every <see cref="PromptJobsOptions.ModelRetryAfter"/>
/// so a missing model does not cost every request a storage round trip.
/// </summary>
internal sealed class PromptLengthChecker(ITokenizerSource tokenizers, PromptJobsOptions options, TimeProvider time, ILogger<PromptLengthChecker> logger)
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
                time.GetUtcNow() - _failedAt >= options.ModelRetryAfter)
            {
                _load = null;
            }

            if (_load is { IsFaulted: true } or { IsCanceled: true })
                return null;
            // A finished load is not kept: the source answers at once once loaded, and hands out the refreshed version
            // after a model change. Only a load in progress is shared (the first one, a slow download).
            if (_load is null || _load.IsCompletedSuccessfully) _load = LoadAsync();
            load = _load;
        }
        try
        {
            return await load.WaitAsync(options.SubmitTokenizerWait, time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            logger.LogInformation("The model is still loading after {WaitSeconds} s; accepting the job without the context-window check (the worker checks it)",
                options.SubmitTokenizerWait.TotalSeconds);
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
            return await tokenizers.AcquireAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch
        {
            lock (_gate) _failedAt = time.GetUtcNow();
            throw;
        }
    }
}
