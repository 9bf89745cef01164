using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Serverless.Inference.Generation;
using Serverless.Inference.Model;
using Serverless.Jobs.Telemetry;

namespace Serverless.Jobs.Batching;

/// <summary>
/// The instance's one decode loop: the prompts of concurrent jobs and streamed completions wait in its
/// <see cref="BatchPolicy"/> and run together in decode batches of up to the model's
/// <see cref="ModelOptions.MaxBatchRows"/> (<c>Inference__MaxBatchRows</c>) rows, one batch at a time. The loop runs on a
/// thread of its own (<see cref="DecodeThread"/>) and is the only code that touches the running <see cref="RowSet"/>:
/// it asks the policy what runs, prefills, steps, lets waiting prompts join between steps (on a model whose rows can),
/// and completes each prompt's task as its row finishes.
/// </summary>
/// <remarks>
/// A prompt's failure is its outcome (its task faults with the engine's error once: invalid parameters, too long, a bad
/// id); a cancelled prompt's task is cancelled, whether it was waiting or running; a failure of the batch as a whole
/// (ONNX Runtime) faults every prompt in it. Jobs that cannot share a batch (beam search) run as a batch of their own.
/// </remarks>
internal sealed class PromptScheduler : IAsyncDisposable, IDisposable
{
    private readonly BatchPolicy _policy;
    private readonly ILogger<PromptScheduler> _logger;
    private readonly object _gate = new();
    private readonly SemaphoreSlim _arrivals = new(0);
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private long _batches;

    public PromptScheduler(BatchPolicy policy, ILogger<PromptScheduler> logger)
    {
        _policy = policy;
        _logger = logger;
    }

    /// <summary>Queues a job's prompts; one task per prompt, in prompt order.</summary>
    /// <exception cref="ObjectDisposedException">The scheduler is stopping (host shutdown).</exception>
    public IReadOnlyList<Task<BatchedResult>> Enqueue(T5Model model, IReadOnlyList<string> prompts, GenerationOptions options,
        CancellationToken cancellationToken) =>
        Enqueue(model, prompts.Select((p, i) => new QueuedPrompt(i, p)).ToArray(), options, cancellationToken);

    /// <summary>
    /// The seam a streamed completion runs through (<c>POST /api/completions</c>; the OpenAI-compatible routes call it
    /// too): queues one prompt as a row whose tokens the returned stream carries as they are generated — in the same
    /// batch as the jobs running beside it, on a model whose rows can join. <see cref="TokenStream.Completion"/> ends
    /// with the prompt's result, or faults with its own error (invalid parameters, too long). Cancelling
    /// <paramref name="cancellationToken"/> ends the row before its next step (or takes it out of the queue); the result
    /// then holds what was generated, with <see cref="FinishReason.Cancelled"/>, as <c>model.StartTokenStream</c> does.
    /// </summary>
    /// <param name="topLogProbs">With a value, each token carries its log-probabilities and this many alternatives
    /// (<see cref="TokenObserver.TopLogProbs"/>).</param>
    public TokenStream StartStream(T5Model model, string prompt, GenerationOptions options, CancellationToken cancellationToken, int? topLogProbs = null)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var observer = new TokenObserver(model, options) { TopLogProbs = topLogProbs };
        var done = Enqueue(model, [new QueuedPrompt(0, prompt, observer)], options, cancellationToken)[0];
        return observer.ToTokenStream(ResultOf(done));

        static async Task<GenerationResult> ResultOf(Task<BatchedResult> done) => (await done.ConfigureAwait(false)).Result;
    }

    private IReadOnlyList<Task<BatchedResult>> Enqueue(T5Model model, QueuedPrompt[] prompts, GenerationOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        var job = new QueuedJob(model, options, cancellationToken, Activity.Current?.Context ?? default);
        foreach (var prompt in prompts) job.Pending.Enqueue(prompt);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_stop.IsCancellationRequested, this);
            _policy.Enqueue(job);
            // The loop serves every job: it must not inherit the first caller's span and log scope.
            using (ExecutionContext.SuppressFlow()) _loop ??= DecodeThread.Run(() => Loop(_stop.Token), CancellationToken.None);
        }
        // Prompts still waiting leave the queue at once; rows already running leave their batch at the next step.
        cancellationToken.Register(() => Cancel(job));
        _arrivals.Release();
        return prompts.Select(p => p.Completion.Task).ToArray();
    }

    private void Cancel(QueuedJob job)
    {
        IReadOnlyList<QueuedPrompt> left;
        lock (_gate) left = _policy.Cancel(job);
        foreach (var prompt in left) Cancelled(job, prompt);
    }

    private int Loop(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                NextBatch decision;
                lock (_gate) decision = _policy.NextBatch();
                if (decision.Items.Count > 0)
                    RunBatch(decision, stop);
                else
                    _arrivals.Wait(decision.Wait ?? Timeout.InfiniteTimeSpan, stop); // an arrival may fill the batch
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                _logger.LogError(e, "The decode loop failed between batches; it carries on");
            }
        }
        return 0;
    }

    private void RunBatch(NextBatch decision, CancellationToken stop)
    {
        var started = Stopwatch.GetTimestamp();
        var number = Interlocked.Increment(ref _batches);
        var batch = decision.Items.ToList();
        foreach (var (job, prompt) in batch)
        {
            prompt.StartedAt = started;
            job.Decoding?.Started();
        }
        _logger.LogInformation("Decode batch {Batch}: {Rows} row(s) from {Jobs} job(s); the oldest waited {WaitMs:F0} ms",
            number, batch.Count, batch.Select(b => b.Job).Distinct().Count(),
            batch.Max(b => Stopwatch.GetElapsedTime(b.Job.EnqueuedAt, started)).TotalMilliseconds);
        try
        {
            using var span = StartBatchActivity(batch, number);
            if (decision.Alone)
                RunAlone(batch, number, stop);
            else
                RunRows(batch, number, stop);
            if (!decision.Alone)
            {
                lock (_gate) _policy.BatchEnded(batch.Count, started);
            }
        }
        catch (Exception e)
        {
            // The batch as a whole failed (ONNX Runtime): every prompt still in it gets the error.
            foreach (var (_, prompt) in batch)
            {
                prompt.Observer?.End();
                prompt.Completion.TrySetException(e);
            }
        }
    }

    /// <summary>
    /// A shared batch: admits it, then steps; between steps, on a model whose rows can join, takes the prompts the
    /// policy lets join. Returns when no row is left and none join.
    /// </summary>
    private void RunRows(List<(QueuedJob Job, QueuedPrompt Prompt)> batch, long number, CancellationToken stop)
    {
        var model = batch[0].Job.Model!;
        var owners = new Dictionary<BatchPrompt, (QueuedJob Job, QueuedPrompt Prompt)>(ReferenceEqualityComparer.Instance);
        using var set = new RowSet(model, stop);
        CompleteAll(set.Admit(batch.Select(ToRow).ToArray()));
        while (true)
        {
            CompleteAll(set.Step());
            var free = set.ActiveRows > 0 ? set.FreeRows : model.Options.MaxBatchRows;
            IReadOnlyList<(QueuedJob Job, QueuedPrompt Prompt)> joining = [];
            if (set.CanJoin && !stop.IsCancellationRequested)
            {
                lock (_gate) joining = _policy.Joining(model, set.ActiveRows, free);
            }
            if (joining.Count > 0)
            {
                var now = Stopwatch.GetTimestamp();
                foreach (var (job, prompt) in joining)
                {
                    prompt.StartedAt = now;
                    job.Decoding?.Started();
                }
                batch.AddRange(joining);
                CompleteAll(set.Admit(joining.Select(ToRow).ToArray()));
            }
            else if (set.ActiveRows == 0)
            {
                return;
            }
        }

        BatchPrompt ToRow((QueuedJob Job, QueuedPrompt Prompt) item)
        {
            var (job, prompt) = item;
            var row = prompt.Observer is { } observer
                ? BatchPrompt.FromText(prompt.Text, job.Options, observer, job.CancellationToken)
                : BatchPrompt.FromText(prompt.Text, job.Options, job.CancellationToken);
            owners[row] = item;
            return row;
        }

        void CompleteAll(IReadOnlyList<RowOutcome> done)
        {
            foreach (var outcome in done)
            {
                var (job, prompt) = owners[outcome.Prompt];
                Complete(job, prompt, outcome.Result, outcome.Error, number);
            }
        }
    }

    /// <summary>A job that cannot share a batch (beam search): all its prompts in one engine call, on the loop's thread.</summary>
    private static void RunAlone(List<(QueuedJob Job, QueuedPrompt Prompt)> batch, long number, CancellationToken stop)
    {
        var job = batch[0].Job;
        var model = job.Model!;
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(stop, job.CancellationToken);
        var ids = batch.Select(b => model.Tokenizer.Encode(b.Prompt.Text, addEndOfSentence: true)).ToArray();
        IReadOnlyList<GenerationResult> results;
        try
        {
            results = model.Generate(ids, job.Options, cancel.Token);
        }
        catch (Inference.PromptTooLongException e)
        {
            // The engine names the prompt by its index in this call; the job by its index in the job.
            throw new Inference.PromptTooLongException(e.TokenCount, e.Limit, batch[e.PromptIndex].Prompt.Index);
        }
        for (var i = 0; i < batch.Count; i++) Complete(job, batch[i].Prompt, results[i], null, number);
    }

    /// <summary>Completes a prompt's task with its outcome: its result, its own error, or cancelled.</summary>
    private static void Complete(QueuedJob job, QueuedPrompt prompt, GenerationResult? result, Exception? error, long number)
    {
        var wait = TimeSpan.FromSeconds((prompt.StartedAt - job.EnqueuedAt) / (double)Stopwatch.Frequency);
        switch ((result, error))
        {
            case (_, Inference.PromptTooLongException e):
                // The engine saw one prompt; the job knows which of its prompts it was.
                Fail(prompt, new Inference.PromptTooLongException(e.TokenCount, e.Limit, prompt.Index));
                break;
            case (_, { } e):
                Fail(prompt, e);
                break;
            case ({ FinishReason: FinishReason.Cancelled }, _) when prompt.Observer is null:
                Cancelled(job, prompt);
                break;
            default:
                prompt.Observer?.Complete(result!);
                prompt.Completion.TrySetResult(new BatchedResult(result!, wait, number));
                break;
        }
    }

    private static void Fail(QueuedPrompt prompt, Exception error)
    {
        prompt.Observer?.End();
        prompt.Completion.TrySetException(error);
    }

    /// <summary>A job's prompt: its task is cancelled. A stream's: it ends with what it generated (nothing, if it
    /// never left the queue) and <see cref="FinishReason.Cancelled"/>, as a stream cancelled mid-way does.</summary>
    private static void Cancelled(QueuedJob job, QueuedPrompt prompt)
    {
        if (prompt.Observer is { } observer && job.Model is { } model)
        {
            var result = NothingGenerated(model, prompt.Text);
            observer.Complete(result);
            prompt.Completion.TrySetResult(new BatchedResult(result, TimeSpan.Zero, 0));
            return;
        }
        prompt.Completion.TrySetCanceled(job.CancellationToken);
    }

    private static GenerationResult NothingGenerated(T5Model model, string text)
    {
        var tokens = model.Tokenizer.Encode(text, addEndOfSentence: true).Length;
        return new GenerationResult("", [], FinishReason.Cancelled, Math.Min(tokens, model.ContextWindow), 0, model.ContextWindow,
            Math.Max(0, tokens - model.ContextWindow), new GenerationTimings(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero));
    }

    /// <summary>
    /// The batch's span, current while the engine runs it (its <c>inference.batch</c> goes under it): a child of the
    /// oldest job's <c>jobs.generate</c>, linked to the other jobs' — one span cannot have several parents.
    /// </summary>
    private static Activity? StartBatchActivity(List<(QueuedJob Job, QueuedPrompt Prompt)> batch, long number)
    {
        if (!JobsTelemetry.Source.HasListeners()) return null;
        var jobs = batch.Select(b => b.Job).Distinct().ToList();
        var links = jobs.Skip(1).Where(g => g.Trace != default).Select(g => new ActivityLink(g.Trace)).ToList();
        var span = JobsTelemetry.Source.StartActivity("jobs.batch", ActivityKind.Internal, jobs[0].Trace, links: links);
        span?.SetTag("jobs.batch.number", number).SetTag("jobs.batch.rows", batch.Count).SetTag("jobs.batch.jobs", jobs.Count);
        return span;
    }

    /// <summary>Stops taking batches; waits for the running one (its rows see the stop at their next step).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Stop() is { } loop) await loop.ConfigureAwait(false);
        CancelWaiting();
    }

    /// <summary>Stops taking batches without waiting for the running one.</summary>
    public void Dispose()
    {
        Stop();
        CancelWaiting();
    }

    private Task? Stop()
    {
        lock (_gate)
        {
            if (_stop.IsCancellationRequested) return null;
            _stop.Cancel();
            return _loop;
        }
    }

    private void CancelWaiting()
    {
        IReadOnlyList<QueuedPrompt> left;
        lock (_gate) left = _policy.TakeAll();
        foreach (var prompt in left)
        {
            prompt.Observer?.End();
            prompt.Completion.TrySetCanceled(_stop.Token);
        }
    }
}
