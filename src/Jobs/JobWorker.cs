using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Serverless.Inference;
using Serverless.Inference.Generation;
using Serverless.Inference.Model;
using Serverless.Jobs.Batching;
using Serverless.Jobs.Cancellation;
using Serverless.Jobs.Messages;
using Serverless.Jobs.Models;
using Serverless.Jobs.Specs;
using Serverless.Jobs.Storage;
using Serverless.Jobs.Telemetry;
using Serverless.ModelStore;

namespace Serverless.Jobs;

/// <summary>
/// Runs one queue message (trigger on <c>%PromptJobsQueue%</c>). Delivery is at least once: a message of a finished job
/// changes and writes nothing. Permanent failures (a bad message, invalid parameters, a prompt over the context window
/// without truncation, an incompatible model) mark the job failed and return normally; transient ones (storage, the
/// model not downloadable yet) record the attempt and its error on the status record and throw, so the host retries
/// and finally moves the message to the poison queue, where <see cref="PoisonJobHandler"/> closes the job.
/// </summary>
public sealed class JobWorker
{
    private readonly JobStore _store;
    private readonly IJobModelSource _models;
    private readonly JobCancellationWatcher _cancellation;
    private readonly Callbacks.JobCallbacks _callbacks;
    private readonly PromptJobsOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<JobWorker> _logger;
    private readonly PromptScheduler _scheduler;
    private readonly Failover.JobOwnership? _ownership;

    /// <param name="scheduler">The instance's decode loop (with <c>Jobs__DynamicBatching=false</c>, its policy runs one job per batch).</param>
    internal JobWorker(JobStore store, IJobModelSource models, JobCancellationWatcher cancellation, Callbacks.JobCallbacks callbacks, PromptJobsOptions options, TimeProvider time,
        ILogger<JobWorker> logger, PromptScheduler scheduler, Failover.JobOwnership? ownership = null)
    {
        _ownership = ownership;
        _scheduler = scheduler;
        _store = store;
        _models = models;
        _cancellation = cancellation;
        _callbacks = callbacks;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <param name="messageText">The queue message as text (encoding "none").</param>
    /// <param name="messageId">The queue message id: the job id of messages that do not carry one.</param>
    /// <param name="dequeueCount">1-based delivery count (logged; the poison queue bounds the retries).</param>
    public async Task ProcessAsync(string messageText, string messageId, long dequeueCount, CancellationToken cancellationToken)
    {
        var message = QueueMessageReader.Read(messageText, messageId);
        var id = message.JobId;
        using var activity = StartProcessActivity(message, messageId, dequeueCount);
        using var scope = _logger.BeginScope(new Dictionary<string, object>
        {
            ["JobId"] = id,
            ["MessageId"] = messageId,
            ["DequeueCount"] = dequeueCount,
        });

        // The record as read here is where every write of this attempt starts from (see TrackedRecord): one request each.
        var tracked = await _store.TrackAsync(id, cancellationToken).ConfigureAwait(false);
        if (tracked.Record is { IsTerminal: true } existing)
        {
            _logger.LogInformation("Job {JobId} is already {Status}; duplicate delivery of message {MessageId} ignored", id, existing.Status, messageId);
            // A job cancelled while queued, or one whose instance stopped between its end and its callback: send it now.
            await _callbacks.NotifyAsync(existing, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (message.Kind == MessageKind.Invalid)
        {
            await FailAsync(tracked, message.Error!, promptCount: 0, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (!message.HasExplicitId)
        {
            // The queue extension moves a poisoned message as a new message (new id, same text). Remember which job this
            // text started so the poison handler can find it; see PoisonJobHandler.
            await _store.AddToContentIndexAsync(QueueMessageReader.ContentHash(messageText ?? ""), id, cancellationToken).ConfigureAwait(false);
        }

        var (spec, specError) = await ReadSpecAsync(message, cancellationToken).ConfigureAwait(false);
        if (spec is null)
        {
            await FailAsync(tracked, specError!, promptCount: 0, cancellationToken).ConfigureAwait(false);
            return;
        }

        // Failover (issue 25): the job is listed in this instance's heartbeat, then taken under a lease by the start
        // write, so a sweep hands it back if this instance dies; a job a live instance holds is not run twice.
        using var hold = _ownership is { Enabled: true } ? await _ownership.HoldAsync(id, cancellationToken).ConfigureAwait(false) : null;
        JobRecord? record;
        if (_ownership is { Enabled: true })
        {
            (record, var heldElsewhere) = await _ownership.StartAsync(tracked, message, spec.Prompts.Count, cancellationToken).ConfigureAwait(false);
            if (heldElsewhere)
            {
                _logger.LogInformation("Job {JobId} is held by live instance {Owner}; message {MessageId} completed without running it", id, record?.Lease?.Owner, messageId);
                return;
            }
        }
        else
        {
            var now = _time.GetUtcNow();
            record = await _store.UpdateAsync(tracked, r => (r ?? JobRecord.Created(id, now, JobRecord.FromQueue)).Started(now, spec.Prompts.Count),
                cancellationToken).ConfigureAwait(false);
        }
        if (record is null || record.IsTerminal)
        {
            // Finished concurrently by another delivery (or cancelled just now).
            await _callbacks.NotifyAsync(record, cancellationToken).ConfigureAwait(false);
            return;
        }
        activity?.SetTag("job.prompt_count", spec.Prompts.Count).SetTag("job.attempt", record.Attempts);
        if (record.Attempts == 1 && record.StartedAt is { } startedAt)
            JobsTelemetry.QueueWait.Record(Math.Max(0, (startedAt - record.CreatedAt).TotalSeconds));

        // The job's own token: cancelled by the host (shutdown) or by a cancel request seen on the record.
        using var watch = _cancellation.Watch(tracked, cancellationToken);
        try
        {
            await RunAsync(tracked, spec, watch.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (watch.IsCancelled && !cancellationToken.IsCancellationRequested)
        {
            // Cancelled by request: the record already says so. Return normally so the message is completed, not retried.
            _logger.LogInformation("Job {JobId}: stopped after a cancel request; no output kept", id);
            await DeleteOutputIfCancelledAsync(id, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Failover (issue 25): graceful scale-in. The record is queued again and a new message is visible now; this
            // one completes (returning normally) instead of coming back after a timeout with one more dequeue.
            if (_ownership is { Enabled: true } && await _ownership.HandBackOnShutdownAsync(id, TimeSpan.FromSeconds(10)).ConfigureAwait(false))
            {
                _logger.LogWarning("Job {JobId}: attempt {Attempt} stopped (host shutting down); handed back to the queue at once", id, record.Attempts);
                return;
            }
            _logger.LogWarning("Job {JobId}: attempt {Attempt} cancelled (host shutting down); the message will be delivered again", id, record.Attempts);
            throw;
        }
        catch (Exception e) when (Classify(e, cancellationToken) is { Permanent: true } failure)
        {
            await FailAsync(tracked, failure.Error, spec.Prompts.Count, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            var failure = Classify(e, cancellationToken);
            _logger.LogError(e, "Job {JobId}: attempt {Attempt} failed ({ErrorCode}); the host will retry: {Reason}", id, record.Attempts, failure.Error.Code, e.Message);
            JobsTelemetry.Retries.Add(1, JobsTelemetry.ErrorCode(failure.Error.Code));
            activity?.SetTag("error.code", failure.Error.Code).SetStatus(ActivityStatusCode.Error, failure.Error.Code);
            try
            {
                var at = _time.GetUtcNow();
                await _store.UpdateAsync(tracked, r => r?.AttemptFailed(record.Attempts, failure.Error, at), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception recordError)
            {
                _logger.LogError(recordError, "Job {JobId}: could not record the failed attempt", id);
            }
            throw;
        }
    }

    private async Task RunAsync(TrackedRecord tracked, JobSpec spec, CancellationToken cancellationToken)
    {
        var id = tracked.Id;
        var record = tracked.Record!;
        if (record.Attempts > 1 && await _store.GetOutputAsync(id, cancellationToken).ConfigureAwait(false) is { } earlier)
        {
            // An earlier attempt wrote the output and stopped before the record said so: finish the record, do not regenerate.
            _logger.LogInformation("Job {JobId}: output already written by an earlier attempt; completing the record", id);
            await SucceedAsync(tracked, Usage(earlier.Results, TimeSpan.Zero), cancellationToken).ConfigureAwait(false);
            return;
        }

        var total = Stopwatch.StartNew();
        using var lease = await AcquireModelAsync(cancellationToken).ConfigureAwait(false);
        if (lease.LoadTime is { } loadTime)
            _logger.LogInformation("Job {JobId}: loaded the model in {ModelLoadMs:F0} ms", id, loadTime.TotalMilliseconds);
        var model = lease.Model;

        // What runs: the job's parameters over the model's generation_config.json defaults (the engine validates them).
        var options = spec.OptionsOver(model.DefaultGenerationOptions);
        var started = Stopwatch.GetTimestamp();
        var results = await GenerateAsync(tracked, model, spec, options, cancellationToken).ConfigureAwait(false);
        var generation = Stopwatch.GetElapsedTime(started);

        var output = new JobOutput(id, _time.GetUtcNow(), results) { Model = lease.Info, Parameters = options };
        using (JobsTelemetry.Source.StartActivity("jobs.output.write"))
        {
            if (!await _store.WriteOutputAsync(output, cancellationToken).ConfigureAwait(false))
                _logger.LogInformation("Job {JobId}: output already written by a concurrent delivery; keeping the first", id);
        }

        var usage = Usage(results, generation) with { DurationMs = Math.Round(total.Elapsed.TotalMilliseconds, 1) };
        Activity.Current?.SetTag("job.input_tokens", usage.InputTokens).SetTag("job.output_tokens", usage.OutputTokens)
            .SetTag("job.finish_reasons", string.Join(',', results.Select(r => r.FinishReason).Distinct().Order(StringComparer.Ordinal)));
        JobsTelemetry.Duration.Record(total.Elapsed.TotalSeconds);
        if (await SucceedAsync(tracked, usage, cancellationToken).ConfigureAwait(false) is { Status: JobStatus.Cancelled })
        {
            // Cancelled after the last step but before the record said succeeded: a cancelled job keeps no output.
            _logger.LogInformation("Job {JobId}: cancelled as it finished; output removed", id);
            await DeleteOutputIfCancelledAsync(id, cancellationToken).ConfigureAwait(false);
            return;
        }
        _logger.LogInformation(
            "Job {JobId} succeeded: {PromptCount} prompt(s), {InputTokens} tokens in, {OutputTokens} tokens out, {TokensPerSecond:F1} tok/s, {DurationMs:F0} ms",
            id, results.Count, usage.InputTokens, usage.OutputTokens, usage.TokensPerSecond, usage.DurationMs);
    }

    /// <summary>
    /// The job's prompts go to the instance's decode loop (<see cref="PromptScheduler"/>). The first prompt that fails
    /// fails the job: the job's other prompts are withdrawn (their rows leave) rather than decoded for nothing.
    /// </summary>
    private async Task<List<PromptResult>> GenerateAsync(TrackedRecord tracked, T5Model model, JobSpec spec, GenerationOptions options,
        CancellationToken cancellationToken)
    {
        using var job = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var generate = JobsTelemetry.Source.StartActivity("jobs.generate");
        generate?.SetTag("job.batch.start", 0).SetTag("job.batch.rows", spec.Prompts.Count);
        var tasks = _scheduler.Enqueue(model, spec.Prompts, options, job.Token);
        foreach (var task in tasks)
        {
            _ = task.ContinueWith(static (t, state) => ((CancellationTokenSource)state!).Cancel(), job, CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        var all = Task.WhenAll(tasks);
        try
        {
            await ReportBatchedProgressAsync(tracked, all, tasks, cancellationToken).ConfigureAwait(false);
            await all.ConfigureAwait(false);
        }
        catch (Exception)
        {
            cancellationToken.ThrowIfCancellationRequested();
            // No prompt failed but some were cancelled: the scheduler is stopping (host shutdown); the message comes back.
            var failed = tasks.FirstOrDefault(t => t.IsFaulted)?.Exception!.InnerException
                ?? new OperationCanceledException("The instance's decode batches stopped before the job's prompts ran.");
            if (failed is PromptTooLongException tooLong)
            {
                generate?.SetStatus(ActivityStatusCode.Error, JobErrorCodes.PromptTooLong);
                throw new PromptAtIndexTooLongException(spec.FieldName(tooLong.PromptIndex), tooLong);
            }
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failed);
        }
        var results = new List<PromptResult>(tasks.Count);
        for (var i = 0; i < tasks.Count; i++)
        {
            var done = tasks[i].Result;
            var result = PromptResult.From(i, done.Result);
            // The wait is reported where jobs share batches (the output of Jobs__DynamicBatching=false is as it was).
            results.Add(_options.DynamicBatching ? result with { QueueWaitMs = Math.Round(done.QueueWait.TotalMilliseconds, 3) } : result);
        }
        if (_options.Telemetry.IncludeText) AddText(generate, spec.Prompts, results);
        return results;
    }

    /// <summary>While the job's prompts run: every <see cref="PromptJobsOptions.ProgressInterval"/>, the prompts
    /// finished so far and their tokens (best effort; nothing is written when nothing finished since the last write, nor
    /// once all have: a running job's progress never reads "all done").</summary>
    private async Task ReportBatchedProgressAsync(TrackedRecord tracked, Task all, IReadOnlyList<Task<BatchedResult>> tasks, CancellationToken cancellationToken)
    {
        // A floor, so that a zero interval (tests) does not spin.
        var interval = _options.ProgressInterval > TimeSpan.FromMilliseconds(50) ? _options.ProgressInterval : TimeSpan.FromMilliseconds(50);
        var reported = 0;
        while (!all.IsCompleted && !cancellationToken.IsCancellationRequested)
        {
            using (var tick = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                await Task.WhenAny(all, Task.Delay(interval, _time, tick.Token)).ConfigureAwait(false);
                await tick.CancelAsync().ConfigureAwait(false);
            }
            if (all.IsCompleted || cancellationToken.IsCancellationRequested) return;
            var done = tasks.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result.Result).ToList();
            // Every prompt done (the last one finished since the check above): the success write carries the totals.
            if (done.Count == tasks.Count) return;
            if (done.Count <= reported) continue;
            reported = done.Count;
            await ReportProgressAsync(tracked, new JobProgress(done.Count, tasks.Count, done.Sum(r => r.OutputTokens)), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Only with <c>Telemetry__IncludeText</c>: the prompts and completions of a <c>jobs.generate</c> span, in prompt order.</summary>
    private static void AddText(Activity? generate, IEnumerable<string> prompts, IEnumerable<PromptResult> results) =>
        generate?.SetTag("job.prompts", prompts.ToArray()).SetTag("job.completions", results.Select(r => r.Completion).ToArray());

    /// <summary>Starts <c>jobs.process</c> under the submit's trace context from the message; a message without one (dropped by
    /// hand) starts a new trace. The host's own invocation span, if any, is linked rather than made the parent.</summary>
    private static Activity? StartProcessActivity(ParsedMessage message, string messageId, long dequeueCount)
    {
        if (!JobsTelemetry.Source.HasListeners()) return null;
        var parent = JobsTelemetry.ParentOf(message.TraceParent);
        var links = parent != default && Activity.Current is { } host ? new[] { new ActivityLink(host.Context) } : null;
        var activity = parent != default
            ? JobsTelemetry.Source.StartActivity("jobs.process", ActivityKind.Consumer, parent, links: links)
            : JobsTelemetry.Source.StartActivity("jobs.process", ActivityKind.Consumer);
        activity?.SetTag("job.id", message.JobId).SetTag("messaging.message.id", messageId).SetTag("messaging.delivery_count", dequeueCount);
        return activity;
    }

    private async Task<JobModelLease> AcquireModelAsync(CancellationToken cancellationToken)
    {
        using var activity = JobsTelemetry.Source.StartActivity("jobs.model.acquire");
        var lease = await _models.AcquireAsync(cancellationToken).ConfigureAwait(false);
        activity?.SetTag("model.loaded_now", lease.LoadTime is not null);
        return lease;
    }

    private static JobUsage Usage(IReadOnlyList<PromptResult> results, TimeSpan generation)
    {
        var input = results.Sum(r => r.InputTokens);
        var output = results.Sum(r => r.OutputTokens);
        var tps = generation > TimeSpan.Zero ? Math.Round(output / generation.TotalSeconds, 2) : 0;
        return new JobUsage(input, output, tps, Math.Round(generation.TotalMilliseconds, 1));
    }

    private async Task<(JobSpec? Spec, JobError? Error)> ReadSpecAsync(ParsedMessage message, CancellationToken cancellationToken)
    {
        switch (message.Kind)
        {
            case MessageKind.Prompt:
                return (new JobSpec(null, [message.Text], null, IsList: false), null);
            case MessageKind.SpecInBlob:
                {
                    var text = await _store.ReadInputAsync(message.JobId, cancellationToken).ConfigureAwait(false);
                    if (text is null)
                        return (null, new JobError(JobErrorCodes.InvalidMessage, $"The message refers to the job input jobs/_inputs/{message.JobId}.json, which does not exist."));
                    try
                    {
                        using var document = JsonDocument.Parse(text);
                        return Validate(document.RootElement);
                    }
                    catch (JsonException e)
                    {
                        return (null, new JobError(JobErrorCodes.InvalidMessage, $"The job input jobs/_inputs/{message.JobId}.json is not valid JSON: {e.Message}"));
                    }
                }
            case MessageKind.Spec:
                return Validate(message.Json!.Value);
            default:
                throw new InvalidOperationException($"Unexpected message kind {message.Kind}.");
        }
    }

    private (JobSpec?, JobError?) Validate(JsonElement root)
    {
        var errors = new SpecErrors();
        var spec = JobSpecReader.Read(root, allowId: true, _options.MaxPromptsPerJob, _options.MaxNewTokensCeiling, errors);
        if (spec is not null) return (spec, null);
        var onlyParameters = errors.ToDictionary().Keys.All(k => k.StartsWith("parameters", StringComparison.Ordinal));
        return (null, new JobError(onlyParameters ? JobErrorCodes.InvalidParameters : JobErrorCodes.InvalidMessage, "The job spec is invalid: " + errors));
    }

    private async Task FailAsync(TrackedRecord tracked, JobError error, int promptCount, CancellationToken cancellationToken)
    {
        var id = tracked.Id;
        var now = _time.GetUtcNow();
        var stored = await _store.UpdateAsync(tracked, r => (r ?? JobRecord.Created(id, now, JobRecord.FromQueue, promptCount)).Fail(now, error),
            cancellationToken).ConfigureAwait(false);
        if (stored is { Status: JobStatus.Failed } && ReferenceEquals(stored.Error, error))
        {
            _logger.LogWarning("Job {JobId} failed ({ErrorCode}): {Reason}", id, error.Code, error.MessageForTelemetry(_options.Telemetry.IncludeText));
            JobsTelemetry.RecordCompleted(Activity.Current, JobStatus.Failed, error);
        }
        await _callbacks.NotifyAsync(stored, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Best effort: a progress write that fails is logged, never fails the job.</summary>
    private async Task ReportProgressAsync(TrackedRecord tracked, JobProgress progress, CancellationToken cancellationToken)
    {
        try
        {
            await _store.UpdateAsync(tracked, r => r?.Progressed(progress), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (StorageFailure.Is(e))
        {
            _logger.LogWarning(e, "Job {JobId}: could not record progress", tracked.Id);
        }
    }

    private async Task DeleteOutputIfCancelledAsync(string id, CancellationToken cancellationToken)
    {
        var record = (await _store.GetAsync(id, cancellationToken).ConfigureAwait(false))?.Record;
        if (record?.Status != JobStatus.Cancelled) return;
        await _store.DeleteOutputAsync(id, cancellationToken).ConfigureAwait(false);
        await _callbacks.NotifyAsync(record, cancellationToken).ConfigureAwait(false);
    }

    /// <returns>The record as stored: <c>succeeded</c>, or <c>cancelled</c> when a cancel got there first.</returns>
    private async Task<JobRecord?> SucceedAsync(TrackedRecord tracked, JobUsage usage, CancellationToken cancellationToken)
    {
        var stored = await _store.UpdateAsync(tracked, r => r?.Succeed(_time.GetUtcNow(), usage), cancellationToken).ConfigureAwait(false);
        if (stored is { Status: JobStatus.Succeeded })
        {
            JobsTelemetry.RecordCompleted(Activity.Current, JobStatus.Succeeded, null);
            await _callbacks.NotifyAsync(stored, cancellationToken).ConfigureAwait(false);
        }
        return stored;
    }

    private sealed record Failure(bool Permanent, JobError Error);

    /// <summary>Which failures end the job now and which are worth another delivery.</summary>
    /// <param name="caller">The attempt's token: a storage call cancelled while it is not was timed out by the client (storage unavailable).</param>
    private static Failure Classify(Exception e, CancellationToken caller) => e switch
    {
        PromptAtIndexTooLongException p => new(true, new JobError(JobErrorCodes.PromptTooLong, $"{p.Field}: {p.InnerException!.Message}")),
        PromptTooLongException p => new(true, new JobError(JobErrorCodes.PromptTooLong, p.Message)),
        InvalidGenerationOptionsException p => new(true, new JobError(JobErrorCodes.InvalidParameters, p.Message)),
        ModelFormatException p => new(true, new JobError(JobErrorCodes.ModelIncompatible, p.Message)),
        // A missing model, container or role assignment is fixed by someone uploading or granting it, often minutes
        // after a deployment: retry (bounded by the poison queue) rather than fail the jobs that raced it.
        ModelContainerNotFoundException or ModelFileMissingException or ModelAccessDeniedException
            => new(false, new JobError(JobErrorCodes.ModelUnavailable, e.Message)),
        ModelStoreException m => new(!m.IsTransient, new JobError(JobErrorCodes.ModelUnavailable, m.Message)),
        _ when StorageFailure.Is(e, caller) => new(false, new JobError(JobErrorCodes.StorageError, StorageFailure.Describe(e))),
        _ => new(false, new JobError(JobErrorCodes.InternalError, $"{e.GetType().Name}: {e.Message}")),
    };

    /// <summary>A <see cref="PromptTooLongException"/> that also names the prompt's field (<c>prompt</c>, <c>prompts[i]</c>).</summary>
    private sealed class PromptAtIndexTooLongException(string field, PromptTooLongException inner) : Exception(inner.Message, inner)
    {
        public string Field { get; } = field;
    }
}
