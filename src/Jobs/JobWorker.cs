using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Serverless.Inference;
using Serverless.Inference.Generation;
using Serverless.Inference.Model;
using Serverless.Jobs.Batching;
using Serverless.Jobs.Cancellation;
using Serverless.Jobs.Checkpoints;
using Serverless.Jobs.Messages;
using Serverless.Jobs.Models;
using Serverless.Jobs.Specs;
using Serverless.Jobs.Storage;
using Serverless.Jobs.Telemetry;

namespace Serverless.Jobs;

/// <summary>
/// Runs one queue message (trigger on <c>%PromptJobsQueue%</c>): read the record → read the spec → start → generate
/// (through the instance's <see cref="PromptScheduler"/>, resuming from the job's checkpoint) → write the output →
/// succeed or fail. Every state change and its side effects go through <see cref="JobTransitions"/>.
/// Delivery is at least once: a message of a finished job changes and writes nothing. Permanent failures (a bad message,
/// invalid parameters, a prompt over the context window without truncation, an incompatible model) mark the job failed
/// and return normally; transient ones (storage, the model not downloadable yet) record the attempt and its error on the
/// status record and throw, so the host retries and finally moves the message to the poison queue, where
/// <see cref="PoisonJobHandler"/> closes the job.
/// </summary>
public sealed class JobWorker
{
    private readonly JobStore _store;
    private readonly MessageSpecReader _specs;
    private readonly JobOutputStore _outputs;
    private readonly MessageContentIndex _contentIndex;
    private readonly JobCheckpoints _checkpoints;
    private readonly JobTransitions _transitions;
    private readonly IJobModelSource _models;
    private readonly JobCancellationWatcher _cancellation;
    private readonly PromptScheduler _scheduler;
    private readonly Failover.JobOwnership? _ownership;
    private readonly PromptJobsOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<JobWorker> _logger;

    /// <param name="scheduler">The instance's decode loop (with <c>Jobs__DynamicBatching=false</c>, its policy runs one job per batch).</param>
    internal JobWorker(JobStore store, MessageSpecReader specs, JobOutputStore outputs, MessageContentIndex contentIndex, JobCheckpoints checkpoints,
        JobTransitions transitions, IJobModelSource models, JobCancellationWatcher cancellation, PromptScheduler scheduler, Failover.JobOwnership? ownership,
        PromptJobsOptions options, TimeProvider time, ILogger<JobWorker> logger)
    {
        _store = store;
        _specs = specs;
        _outputs = outputs;
        _contentIndex = contentIndex;
        _checkpoints = checkpoints;
        _transitions = transitions;
        _models = models;
        _cancellation = cancellation;
        _scheduler = scheduler;
        _ownership = ownership;
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
        using var scope = _logger.BeginScope(new Dictionary<string, object> { ["JobId"] = id, ["MessageId"] = messageId, ["DequeueCount"] = dequeueCount });

        // The record as read here is where every write of this attempt starts from (see TrackedRecord): one request each.
        var tracked = await _store.TrackAsync(id, cancellationToken).ConfigureAwait(false);
        if (tracked.Record is { IsTerminal: true } existing)
        {
            _logger.LogInformation("Job {JobId} is already {Status}; duplicate delivery of message {MessageId} ignored", id, existing.Status, messageId);
            await _transitions.NotifyEndedAsync(existing, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (!message.HasExplicitId && message.Kind != MessageKind.Invalid)
        {
            // The queue extension moves a poisoned message as a new message (new id, same text). Remember which job this
            // text started so the poison handler can find it; see PoisonJobHandler.
            await _contentIndex.AddAsync(QueueMessageReader.ContentHash(messageText ?? ""), id, cancellationToken).ConfigureAwait(false);
        }
        var (spec, specError) = await _specs.ReadAsync(message, cancellationToken).ConfigureAwait(false);
        if (spec is null)
        {
            await _transitions.FailAsync(tracked, specError!, promptCount: 0, cancellationToken).ConfigureAwait(false);
            return;
        }

        // Failover (issue 25): the job is listed in this instance's heartbeat, then taken under a lease by the start
        // write, so a sweep hands it back if this instance dies; a job a live instance holds is not run twice.
        using var hold = _ownership is { Enabled: true } ? await _ownership.HoldAsync(id, cancellationToken).ConfigureAwait(false) : null;
        if (await _transitions.StartAsync(tracked, message, spec.Prompts.Count, cancellationToken).ConfigureAwait(false) is not { } record) return;
        activity?.SetTag("job.prompt_count", spec.Prompts.Count).SetTag("job.attempt", record.Attempts);
        await AttemptAsync(tracked, spec, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One attempt of a started job, and how it ends: succeeded, failed for good, cancelled by request, handed
    /// back on shutdown, or failed for now (thrown, so the message is delivered again). What finished is kept in the
    /// job's checkpoint unless the job ended.</summary>
    private async Task AttemptAsync(TrackedRecord tracked, JobSpec spec, CancellationToken hostToken)
    {
        var id = tracked.Id;
        var attempt = tracked.Record!.Attempts;
        // The job's own token: cancelled by the host (shutdown) or by a cancel request seen on the record.
        using var watch = _cancellation.Watch(tracked, hostToken);
        ResumedPrompts? checkpoint = null;
        try
        {
            checkpoint = await _checkpoints.OpenAsync(id, spec, retry: attempt > 1, watch.Token).ConfigureAwait(false);
            await RunAsync(tracked, spec, checkpoint, watch.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (watch.IsCancelled && !hostToken.IsCancellationRequested)
        {
            // Cancelled by request: the record already says so. Return normally so the message is completed, not retried.
            _logger.LogInformation("Job {JobId}: stopped after a cancel request; no output kept", id);
            if (checkpoint is not null) await checkpoint.ForgetAsync().ConfigureAwait(false);
            await _transitions.CancelledAsync(id, hostToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (hostToken.IsCancellationRequested)
        {
            // Graceful scale-in: keep what finished, then hand the job back (visible again now, no extra dequeue).
            if (checkpoint is not null) await checkpoint.KeepAsync().ConfigureAwait(false);
            if (await _transitions.HandBackAsync(id).ConfigureAwait(false))
            {
                _logger.LogWarning("Job {JobId}: attempt {Attempt} stopped (host shutting down); handed back to the queue at once", id, attempt);
                return;
            }
            _logger.LogWarning("Job {JobId}: attempt {Attempt} cancelled (host shutting down); the message will be delivered again", id, attempt);
            throw;
        }
        catch (Exception e) when (JobFailure.Of(e, hostToken) is { Permanent: true } failure)
        {
            if (checkpoint is not null) await checkpoint.ForgetAsync().ConfigureAwait(false);
            await _transitions.FailAsync(tracked, failure.Error, spec.Prompts.Count, hostToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            var failure = JobFailure.Of(e, hostToken);
            _logger.LogError(e, "Job {JobId}: attempt {Attempt} failed ({ErrorCode}); the host will retry: {Reason}", id, attempt, failure.Error.Code, e.Message);
            if (checkpoint is not null) await checkpoint.KeepAsync().ConfigureAwait(false);
            await _transitions.AttemptFailedAsync(tracked, attempt, failure.Error).ConfigureAwait(false);
            throw;
        }
        finally
        {
            if (checkpoint is not null) await checkpoint.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Generate → write the output → succeed. An output an earlier attempt wrote is the answer (a job is
    /// answered once); prompts an earlier attempt finished come from <paramref name="checkpoint"/>.</summary>
    private async Task RunAsync(TrackedRecord tracked, JobSpec spec, ResumedPrompts checkpoint, CancellationToken cancellationToken)
    {
        var id = tracked.Id;
        var record = tracked.Record!;
        if (record.Attempts > 1 && await _outputs.GetAsync(id, cancellationToken).ConfigureAwait(false) is { } earlier)
        {
            // An earlier attempt wrote the output and stopped before the record said so: finish the record, do not regenerate.
            _logger.LogInformation("Job {JobId}: output already written by an earlier attempt; completing the record", id);
            await checkpoint.ForgetAsync().ConfigureAwait(false);
            await _transitions.SucceedAsync(tracked, Usage(earlier.Results, earlier.Results, TimeSpan.Zero), null, cancellationToken).ConfigureAwait(false);
            return;
        }

        var total = Stopwatch.StartNew();
        using var lease = await AcquireModelAsync(cancellationToken).ConfigureAwait(false);
        if (lease.LoadTime is { } loadTime)
            _logger.LogInformation("Job {JobId}: loaded the model in {ModelLoadMs:F0} ms", id, loadTime.TotalMilliseconds);

        // What runs: the job's parameters over the model's generation_config.json defaults (the engine validates them).
        var options = spec.OptionsOver(lease.Model.DefaultGenerationOptions);
        var started = Stopwatch.GetTimestamp();
        var generated = await GenerateAsync(tracked, lease.Model, spec, checkpoint, options, cancellationToken).ConfigureAwait(false);
        var generation = Stopwatch.GetElapsedTime(started);
        var results = checkpoint.Merge(generated);

        using (JobsTelemetry.Source.StartActivity("jobs.output.write"))
        {
            if (!await _outputs.WriteAsync(new JobOutput(id, _time.GetUtcNow(), results) { Model = lease.Info, Parameters = options }, cancellationToken).ConfigureAwait(false))
                _logger.LogInformation("Job {JobId}: output already written by a concurrent delivery; keeping the first", id);
        }
        await checkpoint.ForgetAsync().ConfigureAwait(false);

        var usage = Usage(results, generated, generation) with { DurationMs = Math.Round(total.Elapsed.TotalMilliseconds, 1) };
        Activity.Current?.SetTag("job.input_tokens", usage.InputTokens).SetTag("job.output_tokens", usage.OutputTokens)
            .SetTag("job.finish_reasons", string.Join(',', results.Select(r => r.FinishReason).Distinct().Order(StringComparer.Ordinal)));
        JobsTelemetry.Duration.Record(total.Elapsed.TotalSeconds);
        await _transitions.SucceedAsync(tracked, usage, AttemptLog(record, spec, checkpoint, generated), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The job's pending prompts go to the instance's decode loop (<see cref="PromptScheduler"/>); each one that finishes
    /// goes to the checkpoint. The first prompt that fails fails the job: the job's other prompts are withdrawn (their rows
    /// leave) rather than decoded for nothing.
    /// </summary>
    /// <returns>The results of <see cref="ResumedPrompts.Pending"/>, indexed as there.</returns>
    private async Task<List<PromptResult>> GenerateAsync(TrackedRecord tracked, T5Model model, JobSpec spec, ResumedPrompts checkpoint, GenerationOptions options,
        CancellationToken cancellationToken)
    {
        var prompts = checkpoint.Pending.Prompts;
        using var generate = JobsTelemetry.Source.StartActivity("jobs.generate");
        generate?.SetTag("job.batch.start", 0).SetTag("job.batch.rows", prompts.Count).SetTag("job.prompts_resumed", checkpoint.Resumed);
        if (prompts.Count == 0) return []; // an earlier attempt finished them all and stopped before the output

        using var job = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var tasks = _scheduler.Enqueue(model, prompts, options, job.Token);
        for (var i = 0; i < tasks.Count; i++)
        {
            var index = i;
            _ = tasks[i].ContinueWith(t =>
            {
                if (t.IsCompletedSuccessfully) checkpoint.Finished(index, ResultOf(index, t.Result));
                else if (t.IsFaulted) CancelQuietly(job);
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        var all = Task.WhenAll(tasks);
        try
        {
            await ReportProgressAsync(tracked, all, tasks, checkpoint, cancellationToken).ConfigureAwait(false);
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
                throw new JobFailure.PromptAtIndexTooLongException(spec.FieldName(checkpoint.OriginalIndex(tooLong.PromptIndex)), tooLong);
            }
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failed);
        }
        var results = tasks.Select((t, i) => ResultOf(i, t.Result)).ToList();
        if (_options.Telemetry.IncludeText) AddText(generate, prompts, results);
        return results;
    }

    /// <summary>Withdraws the job's other prompts; a prompt that fails after the job returned finds the source disposed.</summary>
    private static void CancelQuietly(CancellationTokenSource job)
    {
        try
        {
            job.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>The wait is reported where jobs share batches (the output of Jobs__DynamicBatching=false is as it was).</summary>
    private PromptResult ResultOf(int index, BatchedResult done)
    {
        var result = PromptResult.From(index, done.Result);
        return _options.DynamicBatching ? result with { QueueWaitMs = Math.Round(done.QueueWait.TotalMilliseconds, 3) } : result;
    }

    /// <summary>While the job's prompts run: every <see cref="PromptJobsOptions.ProgressInterval"/>, the prompts
    /// finished so far (with those from the checkpoint) and their tokens (best effort; nothing is written when nothing
    /// finished since the last write, nor once all have: a running job's progress never reads "all done").</summary>
    private async Task ReportProgressAsync(TrackedRecord tracked, Task all, IReadOnlyList<Task<BatchedResult>> tasks, ResumedPrompts checkpoint,
        CancellationToken cancellationToken)
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
            var progress = new JobProgress(checkpoint.Resumed + done.Count, checkpoint.Resumed + tasks.Count, checkpoint.ResumedTokens + done.Sum(r => r.OutputTokens));
            await _transitions.ProgressAsync(tracked, progress, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>What this attempt did, logged on the record with its last write (multi-prompt jobs: the ones a checkpoint serves).</summary>
    private Failover.AttemptRecord? AttemptLog(JobRecord record, JobSpec spec, ResumedPrompts checkpoint, IReadOnlyList<PromptResult> generated) =>
        spec.Prompts.Count < 2 ? null : new(record.Attempts, _ownership?.InstanceId ?? "", checkpoint.Resumed, generated.Count, generated.Sum(r => r.OutputTokens));

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

    /// <summary>The job's token counts (all its results) and this attempt's speed (what it <paramref name="generated"/>).</summary>
    private static JobUsage Usage(IReadOnlyList<PromptResult> results, IReadOnlyList<PromptResult> generated, TimeSpan generation)
    {
        var tps = generation > TimeSpan.Zero ? Math.Round(generated.Sum(r => r.OutputTokens) / generation.TotalSeconds, 2) : 0;
        return new JobUsage(results.Sum(r => r.InputTokens), results.Sum(r => r.OutputTokens), tps, Math.Round(generation.TotalMilliseconds, 1));
    }

}
