using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Serverless.Inference;
using Serverless.Inference.Generation;
using Serverless.Inference.Model;
using Serverless.Jobs.Telemetry;

namespace Serverless.Jobs.Batching;

/// <summary>
/// The instance's decode batches: the prompts of concurrent invocations (and the prompts of a multi-prompt job) wait
/// here and run together in shared decode batches of up to the model's <see cref="ModelOptions.MaxBatchRows"/>
/// (<c>Inference__MaxBatchRows</c>) rows, one batch at a time. A batch starts when it is full or when the oldest
/// waiting prompt has waited <c>Jobs__BatchWindowMs</c>. On a model whose rows can join a running batch
/// (<see cref="T5Model.CanJoinRunningBatch"/>: the project's own export with a decoder self-attention mask), prompts that
/// arrive while a batch runs join it at its next step (continuous batching); on a stock Optimum export they wait for
/// the next batch.
/// </summary>
/// <remarks>
/// Fairness: a batch takes one prompt from each waiting job in arrival order, then a second from each, and so on, so a
/// 64-prompt job does not hold a single-prompt job that arrives after it back for more than one batch; joining rows are
/// taken the same way, and never past a waiting job that cannot join (beam search), which runs once the batch drains. A prompt's
/// task completes as soon as its row is done; an error of a prompt (too long, a bad id) is that prompt's own; a
/// cancelled invocation's prompts leave the queue, or their rows leave the running batch, without disturbing others.
/// Jobs that cannot share a batch (beam search) run as a batch of their own when their turn comes.
/// </remarks>
internal sealed class PromptBatcher : IAsyncDisposable, IDisposable
{
    private readonly TimeSpan _window;
    private readonly ILogger<PromptBatcher> _logger;
    private readonly object _gate = new();
    private readonly List<Group> _waiting = [];       // arrival order
    private readonly SemaphoreSlim _arrivals = new(0);
    private readonly CancellationTokenSource _stop = new();
    private Task? _runner;
    private long _batches;
    // The last shared batch: its rows, when it ended and how long it ran (Stopwatch ticks); see Patience.
    private int _lastRows;
    private long _lastEnd, _lastDuration;
    // Decoder steps of running batches so far (each asks TakeJoining once): how long a waiting prompt has waited to join.
    private long _steps;

    /// <summary>
    /// Prompts join a running batch together once they would fill this share of its rows, or once the oldest has waited
    /// <see cref="JoinPatienceSteps"/> steps: every join stalls the batch for the joiners' encoder pass and copies its
    /// per-row tensors, so joining one prompt per step, as rows of different lengths finish one by one, costs more than
    /// it gains (measured: 161 against 197 jobs/minute without joining, prompt lengths 8-128).
    /// </summary>
    internal const double JoinShare = 0.25;
    internal const int JoinPatienceSteps = 8;

    public PromptBatcher(TimeSpan window, ILogger<PromptBatcher> logger)
    {
        _window = window;
        _logger = logger;
    }

    /// <summary>Queues a job's prompts; one task per prompt, in prompt order.</summary>
    /// <exception cref="ObjectDisposedException">The batcher is stopping (host shutdown).</exception>
    public IReadOnlyList<Task<BatchedResult>> Enqueue(T5Model model, IReadOnlyList<string> prompts, GenerationOptions options,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(options);
        var group = new Group(model, options, cancellationToken, Stopwatch.GetTimestamp(), Activity.Current?.Context ?? default)
        {
            EnqueuedAtStep = Interlocked.Read(ref _steps),
        };
        for (var i = 0; i < prompts.Count; i++) group.Pending.Enqueue(new Item(i, prompts[i]));
        var tasks = group.Pending.Select(item => item.Completion.Task).ToArray();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_stop.IsCancellationRequested, this);
            _waiting.Add(group);
            if (_runner is null)
            {
                // The loop serves every job: it must not inherit the first caller's span and log scope (an async-local
                // context would make every later batch a child of that job's trace and log it under that job's id).
                using (ExecutionContext.SuppressFlow()) _runner = Task.Run(() => RunAsync(_stop.Token));
            }
        }
        // Prompts still waiting leave the queue at once; rows already running leave their batch at the next step. The
        // caller's token is the job's own (disposed with the job), which ends the registration.
        cancellationToken.Register(() => Cancel(group));
        _arrivals.Release();
        return tasks;
    }

    private void Cancel(Group group)
    {
        lock (_gate)
        {
            _waiting.Remove(group);
            while (group.Pending.TryDequeue(out var item)) item.Completion.TrySetCanceled(group.CancellationToken);
        }
    }

    private async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await _arrivals.WaitAsync(stop).ConfigureAwait(false);
                List<(Group Group, Item Item)>? batch;
                while ((batch = TryTake(out var wait)) is null)
                {
                    if (wait is null) break; // nothing waiting
                    // Wake when the window ends or another prompt arrives (which may fill the batch).
                    await _arrivals.WaitAsync(wait.Value, stop).ConfigureAwait(false);
                }
                if (batch is not null) await RunBatchAsync(batch, stop).ConfigureAwait(false);
                // More may be waiting than one batch took: go round again without waiting for an arrival.
                lock (_gate)
                {
                    if (_waiting.Count > 0 && _arrivals.CurrentCount == 0) _arrivals.Release();
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                _logger.LogError(e, "The prompt batcher failed between batches; it carries on");
            }
        }
    }

    /// <summary>The next batch if it should start now; otherwise null and how long until the window of the oldest prompt ends.</summary>
    private List<(Group, Item)>? TryTake(out TimeSpan? wait)
    {
        lock (_gate)
        {
            wait = null;
            _waiting.RemoveAll(g => g.Pending.Count == 0);
            if (_waiting.Count == 0) return null;
            var first = _waiting[0];
            var model = first.Model;
            var rows = model.Options.MaxBatchRows;
            var batch = new List<(Group, Item)>();
            if (!BatchPrompt.CanShare(first.Options))
            {
                // A job that cannot share runs on its own, all its prompts at once (the engine splits by row limit).
                _waiting.RemoveAt(0);
                while (first.Pending.TryDequeue(out var item)) batch.Add((first, item));
                return batch;
            }

            var sharing = _waiting.Where(g => ReferenceEquals(g.Model, model) && BatchPrompt.CanShare(g.Options)).ToList();
            var available = sharing.Sum(g => g.Pending.Count);
            var untilStart = UntilStart(sharing, first.EnqueuedAt, model.CanJoinRunningBatch);
            if (available < rows && untilStart > TimeSpan.Zero)
            {
                wait = untilStart;
                return null;
            }
            batch.AddRange(TakeRoundRobin(sharing, rows));
            _waiting.RemoveAll(g => g.Pending.Count == 0);
            return batch;
        }
    }

    /// <summary>
    /// How long until a batch that is not full may start: when the oldest prompt has waited the window, and, right after
    /// a batch, not before as many rows have arrived since it ended as it had (at most a quarter of its run time).
    /// Rows cannot join a running batch, and the jobs of a busy instance are followed by new ones a moment after their
    /// results (clients that wait for a result, then send the next): a batch started the moment it could shuts those
    /// out for its whole run, and the load settles into two cohorts that alternate, each batch half as full (seen: 8 and
    /// 8 rows of 16 jobs in flight). An idle instance (no batch within the last batch's run time), and a batch whose
    /// followers are all there, wait only the window.
    /// </summary>
    private TimeSpan UntilStart(IEnumerable<Group> sharing, long oldestEnqueuedAt, bool joinable)
    {
        var now = Stopwatch.GetTimestamp();
        var untilWindow = _window - Stopwatch.GetElapsedTime(oldestEnqueuedAt, now);
        if (joinable || _lastDuration == 0 || now - _lastEnd > _lastDuration)
            return untilWindow;
        var followers = sharing.Where(g => g.EnqueuedAt >= _lastEnd).Sum(g => g.Pending.Count);
        if (followers >= _lastRows)
            return untilWindow;
        var untilSettled = TimeSpan.FromSeconds((_lastEnd + _lastDuration / 4 - now) / (double)Stopwatch.Frequency);
        return untilSettled > untilWindow ? untilSettled : untilWindow;
    }

    /// <summary>
    /// Between the steps of a running batch (on its decode loop, <see cref="RunRows"/>): up to <paramref name="free"/> waiting prompts of
    /// <paramref name="model"/> that join it, round robin over the waiting jobs in arrival order, none past a job that
    /// cannot share this batch. Each goes into <paramref name="batch"/>, which numbers the batch's prompts.
    /// </summary>
    private List<BatchPrompt> TakeJoining(T5Model model, int free, List<(Group Group, Item Item)> batch,
        Dictionary<BatchPrompt, (Group Group, Item Item)> owners)
    {
        var joining = new List<BatchPrompt>();
        var step = Interlocked.Increment(ref _steps);
        lock (_gate)
        {
            if (_waiting.Count == 0) return joining;
            var sharing = _waiting.TakeWhile(g => ReferenceEquals(g.Model, model) && BatchPrompt.CanShare(g.Options)).ToList();
            if (sharing.Count == 0) return joining;
            var running = model.Options.MaxBatchRows - free;
            var enough = Math.Min(free, Math.Max(1, (int)Math.Ceiling(running * JoinShare)));
            if (sharing.Sum(g => g.Pending.Count) < enough && step - sharing[0].EnqueuedAtStep < JoinPatienceSteps) return joining;
            var now = Stopwatch.GetTimestamp();
            foreach (var (group, item) in TakeRoundRobin(sharing, free))
            {
                item.StartedAt = now;
                batch.Add((group, item));
                var prompt = ToBatchPrompt(group, item);
                owners[prompt] = (group, item);
                joining.Add(prompt);
            }
            _waiting.RemoveAll(g => g.Pending.Count == 0);
        }
        return joining;
    }

    private static BatchPrompt ToBatchPrompt(Group group, Item item) => BatchPrompt.FromText(item.Prompt, group.Options, group.CancellationToken);

    /// <summary>Dequeues up to <paramref name="limit"/> prompts: one from each job in arrival order, then a second from each, and so on.</summary>
    private static List<(Group Group, Item Item)> TakeRoundRobin(List<Group> groups, int limit)
    {
        var taken = new List<(Group, Item)>();
        for (var any = true; any && taken.Count < limit;)
        {
            any = false;
            foreach (var group in groups)
            {
                if (taken.Count == limit) break;
                if (!group.Pending.TryDequeue(out var item)) continue;
                taken.Add((group, item));
                any = true;
            }
        }
        return taken;
    }

    private async Task RunBatchAsync(List<(Group Group, Item Item)> batch, CancellationToken stop)
    {
        var started = Stopwatch.GetTimestamp();
        var number = Interlocked.Increment(ref _batches);
        var first = batch[0].Group;
        foreach (var (_, item) in batch) item.StartedAt = started;
        try
        {
            if (!BatchPrompt.CanShare(first.Options))
            {
                await RunAloneAsync(first, batch.Select(b => b.Item).ToArray(), started, number).ConfigureAwait(false);
                return;
            }
            var prompts = batch.Select(b => ToBatchPrompt(b.Group, b.Item)).ToArray();
            _logger.LogInformation("Decode batch {Batch}: {Rows} row(s) from {Jobs} job(s); the oldest waited {WaitMs:F0} ms",
                number, prompts.Length, batch.Select(b => b.Group).Distinct().Count(),
                batch.Max(b => Stopwatch.GetElapsedTime(b.Group.EnqueuedAt, started)).TotalMilliseconds);
            using (StartBatchActivity(batch, prompts.Length, number))
            {
                // The decode loop holds a thread of its own for the whole batch (DecodeThread); the span flows to it.
                await DecodeThread.Run(() => RunRows(first.Model, batch, prompts, number, stop), CancellationToken.None).ConfigureAwait(false);
            }
            lock (_gate)
            {
                _lastRows = prompts.Length;
                _lastEnd = Stopwatch.GetTimestamp();
                _lastDuration = _lastEnd - started;
            }
        }
        catch (Exception e)
        {
            // The batch as a whole failed (ONNX Runtime): every prompt still in it gets the error.
            foreach (var (_, item) in batch) item.Completion.TrySetException(e);
        }
    }

    /// <summary>
    /// The decode loop of a shared batch, the only code that touches its <see cref="RowSet"/>: admits the batch, then
    /// steps; between steps, on a model whose rows can join, takes waiting prompts into it (<see cref="TakeJoining"/>).
    /// Each prompt completes as its row finishes. Returns when no row is left and none wait to join.
    /// </summary>
    private int RunRows(T5Model model, List<(Group Group, Item Item)> batch, BatchPrompt[] prompts, long number, CancellationToken stop)
    {
        var owners = new Dictionary<BatchPrompt, (Group Group, Item Item)>(ReferenceEqualityComparer.Instance);
        for (var i = 0; i < prompts.Length; i++) owners[prompts[i]] = batch[i];
        using var set = new RowSet(model, stop);
        CompleteAll(set.Admit(prompts));
        while (true)
        {
            CompleteAll(set.Step());
            var free = set.ActiveRows > 0 ? set.FreeRows : model.Options.MaxBatchRows;
            var joining = set.CanJoin && free > 0 && !stop.IsCancellationRequested ? TakeJoining(model, free, batch, owners) : [];
            if (joining.Count > 0) CompleteAll(set.Admit(joining));
            else if (set.ActiveRows == 0) return owners.Count;
        }

        void CompleteAll(IReadOnlyList<RowOutcome> done)
        {
            foreach (var outcome in done)
            {
                var (group, item) = owners[outcome.Prompt];
                Complete(group, item, outcome.Result, outcome.Error, number);
            }
        }
    }

    private static async Task RunAloneAsync(Group group, Item[] items, long started, long number)
    {
        using var span = JobsTelemetry.Source.StartActivity("jobs.batch", ActivityKind.Internal, group.Trace);
        span?.SetTag("jobs.batch.number", number).SetTag("jobs.batch.rows", items.Length).SetTag("jobs.batch.jobs", 1);
        var results = await group.Model.GenerateAsync(items.Select(i => i.Prompt).ToArray(), group.Options, group.CancellationToken).ConfigureAwait(false);
        for (var i = 0; i < items.Length; i++) Complete(group, items[i], results[i], null, number);
    }

    /// <summary>
    /// The shared batch's span, current while the engine runs it (its <c>inference.batch</c> goes under it): a child of
    /// the oldest job's <c>jobs.generate</c>, linked to the other jobs' — one span cannot have several parents.
    /// </summary>
    private static Activity? StartBatchActivity(List<(Group Group, Item Item)> batch, int rows, long number)
    {
        if (!JobsTelemetry.Source.HasListeners()) return null;
        var groups = batch.Select(b => b.Group).Distinct().ToList();
        var links = groups.Skip(1).Where(g => g.Trace != default).Select(g => new ActivityLink(g.Trace)).ToList();
        var span = JobsTelemetry.Source.StartActivity("jobs.batch", ActivityKind.Internal, groups[0].Trace, links: links);
        span?.SetTag("jobs.batch.number", number).SetTag("jobs.batch.rows", rows).SetTag("jobs.batch.jobs", groups.Count);
        return span;
    }

    private static void Complete(Group group, Item item, GenerationResult? result, Exception? error, long number)
    {
        var wait = TimeSpan.FromSeconds((item.StartedAt - group.EnqueuedAt) / (double)Stopwatch.Frequency);
        switch ((result, error))
        {
            case (_, PromptTooLongException e):
                // The engine saw one prompt; the job knows which of its prompts it was.
                item.Completion.TrySetException(new PromptTooLongException(e.TokenCount, e.Limit, item.Index));
                break;
            case (_, { } e):
                item.Completion.TrySetException(e);
                break;
            case ({ FinishReason: FinishReason.Cancelled }, _):
                item.Completion.TrySetCanceled(group.CancellationToken);
                break;
            default:
                item.Completion.TrySetResult(new BatchedResult(result!, wait, number));
                break;
        }
    }

    /// <summary>Stops taking batches; waits for the running one (its rows see the stop at their next step).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Stop() is { } runner) await runner.ConfigureAwait(false);
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
            return _runner;
        }
    }

    private void CancelWaiting()
    {
        lock (_gate)
        {
            foreach (var group in _waiting)
            {
                while (group.Pending.TryDequeue(out var item)) item.Completion.TrySetCanceled(_stop.Token);
            }
            _waiting.Clear();
        }
    }

    /// <summary>One job's prompts: they share its parameters, model and cancellation.</summary>
    private sealed class Group(T5Model model, GenerationOptions options, CancellationToken cancellationToken, long enqueuedAt, ActivityContext trace)
    {
        /// <summary>The job's <c>jobs.generate</c> span (default when not traced): the parent or a link of the batches that run its prompts.</summary>
        public ActivityContext Trace { get; } = trace;
        public T5Model Model { get; } = model;
        public GenerationOptions Options { get; } = options;
        public CancellationToken CancellationToken { get; } = cancellationToken;
        public long EnqueuedAt { get; } = enqueuedAt;
        /// <summary>The batcher's step count when the job arrived.</summary>
        public long EnqueuedAtStep { get; init; }
        public Queue<Item> Pending { get; } = new();
    }

    private sealed class Item(int index, string prompt)
    {
        public int Index { get; } = index;
        public string Prompt { get; } = prompt;
        public TaskCompletionSource<BatchedResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        /// <summary>When its batch started or it joined a running one (Stopwatch ticks): the end of its wait.</summary>
        public long StartedAt { get; set; }
    }
}
