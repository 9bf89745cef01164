using Serverless.Inference.Generation;

namespace Serverless.Jobs.Batching;

/// <summary>
/// Which waiting prompts run next: the instance's waiting queue and its rules, and nothing else (no lock, no thread, no
/// model). The <see cref="PromptScheduler"/> holds it under its lock and asks it before each batch
/// (<see cref="NextBatch"/>) and between the steps of a running one (<see cref="Joining"/>).
/// </summary>
/// <remarks>
/// The rules: a batch takes one prompt from each waiting job in arrival order, then a second from each, and so on
/// (round robin), so a 64-prompt job does not hold a single-prompt job that arrives after it back for more than one
/// batch. A batch starts when it is full or once the oldest prompt has waited the window, and, right after a batch on
/// a model whose rows cannot join, not before its followers are there (<see cref="UntilStart"/>). A job that cannot
/// share a batch (beam search) runs as a batch of its own when its turn comes, and rows never join past it. On a
/// joinable model, waiting prompts join a running batch once they would fill <see cref="JoinShare"/> of its rows or
/// the oldest has waited <see cref="JoinPatienceSteps"/> steps. With <see cref="OneJobPerBatch"/>
/// (<c>Jobs__DynamicBatching=false</c>) each batch holds the prompts of one job only, at most
/// <see cref="PromptsPerBatch"/> of them, with no window and no joining.
/// </remarks>
internal sealed class BatchPolicy(TimeProvider time, TimeSpan window)
{
    /// <summary>
    /// Prompts join a running batch together once they would fill this share of its rows, or once the oldest has waited
    /// <see cref="JoinPatienceSteps"/> steps: every join stalls the batch for the joiners' encoder pass and copies its
    /// per-row tensors, so joining one prompt per step, as rows of different lengths finish one by one, costs more than
    /// it gains (measured: 161 against 197 jobs/minute without joining, prompt lengths 8-128).
    /// </summary>
    internal const double JoinShare = 0.25;
    internal const int JoinPatienceSteps = 8;

    private readonly List<QueuedJob> _waiting = [];   // arrival order
    // The last shared batch: its rows, when it ended and how long it ran (timestamps of the time provider); see UntilStart.
    private int _lastRows;
    private long _lastEnd, _lastDuration;
    // Decoder steps of running batches so far (each asks Joining once): how long a waiting prompt has waited to join.
    private long _steps;

    /// <summary>Each batch holds one job's prompts (<c>Jobs__DynamicBatching=false</c>).</summary>
    public bool OneJobPerBatch { get; init; }

    /// <summary>With <see cref="OneJobPerBatch"/>: at most this many prompts per batch (<c>Jobs__BatchSize</c>).</summary>
    public int PromptsPerBatch { get; init; } = int.MaxValue;

    public bool IsEmpty => _waiting.Count == 0;

    public void Enqueue(QueuedJob job)
    {
        job.EnqueuedAt = time.GetTimestamp();
        job.EnqueuedAtStep = _steps;
        _waiting.Add(job);
    }

    /// <summary>Takes the job out of the queue; returns its prompts that were still waiting.</summary>
    public IReadOnlyList<QueuedPrompt> Cancel(QueuedJob job)
    {
        _waiting.Remove(job);
        var left = job.Pending.ToArray();
        job.Pending.Clear();
        return left;
    }

    /// <summary>Every prompt still waiting (the scheduler is stopping); the queue is left empty.</summary>
    public IReadOnlyList<QueuedPrompt> TakeAll()
    {
        var all = _waiting.SelectMany(j => j.Pending).ToArray();
        foreach (var job in _waiting) job.Pending.Clear();
        _waiting.Clear();
        return all;
    }

    /// <summary>The next batch, if one should start now; otherwise how long until one may (null: nothing waits).</summary>
    public NextBatch NextBatch()
    {
        _waiting.RemoveAll(g => g.Pending.Count == 0);
        if (_waiting.Count == 0) return new NextBatch([], false, null);
        var first = _waiting[0];
        if (!BatchPrompt.CanShare(first.Options))
        {
            // A job that cannot share runs on its own, all its prompts at once (the engine splits by row limit), or
            // PromptsPerBatch at a time with one job per batch (its progress is written between them).
            var alone = Take(first, OneJobPerBatch ? PromptsPerBatch : int.MaxValue);
            _waiting.RemoveAll(g => g.Pending.Count == 0);
            return new NextBatch(alone, true, null);
        }
        if (OneJobPerBatch)
        {
            var taken = Take(first, Math.Min(first.MaxRows, PromptsPerBatch));
            _waiting.RemoveAll(g => g.Pending.Count == 0);
            return new NextBatch(taken, false, null);
        }

        var sharing = _waiting.Where(g => ReferenceEquals(g.Model, first.Model) && BatchPrompt.CanShare(g.Options)).ToList();
        var untilStart = UntilStart(sharing, first.EnqueuedAt, first.Joinable);
        if (sharing.Sum(g => g.Pending.Count) < first.MaxRows && untilStart > TimeSpan.Zero)
            return new NextBatch([], false, untilStart);
        var batch = TakeRoundRobin(sharing, first.MaxRows);
        _waiting.RemoveAll(g => g.Pending.Count == 0);
        return new NextBatch(batch, false, null);
    }

    /// <summary>
    /// Between the steps of a running batch of <paramref name="model"/>: up to <paramref name="free"/> waiting prompts that
    /// join it, round robin over the waiting jobs in arrival order, none past a job that cannot share this batch. Counts
    /// one step.
    /// </summary>
    /// <param name="running">The batch's live rows.</param>
    public IReadOnlyList<(QueuedJob Job, QueuedPrompt Prompt)> Joining(object model, int running, int free)
    {
        var step = ++_steps;
        if (OneJobPerBatch || _waiting.Count == 0 || free <= 0) return [];
        var sharing = _waiting.TakeWhile(g => ReferenceEquals(g.Model, model) && BatchPrompt.CanShare(g.Options) && g.Joinable).ToList();
        if (sharing.Count == 0) return [];
        var enough = Math.Min(free, Math.Max(1, (int)Math.Ceiling(running * JoinShare)));
        if (sharing.Sum(g => g.Pending.Count) < enough && step - sharing[0].EnqueuedAtStep < JoinPatienceSteps) return [];
        var joining = TakeRoundRobin(sharing, free);
        _waiting.RemoveAll(g => g.Pending.Count == 0);
        return joining;
    }

    /// <summary>A shared batch drained: what the followers rule of the next one measures against.</summary>
    public void BatchEnded(int rows, long started)
    {
        _lastRows = rows;
        _lastEnd = time.GetTimestamp();
        _lastDuration = _lastEnd - started;
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
    private TimeSpan UntilStart(List<QueuedJob> sharing, long oldestEnqueuedAt, bool joinable)
    {
        var now = time.GetTimestamp();
        var untilWindow = window - time.GetElapsedTime(oldestEnqueuedAt, now);
        if (joinable || _lastDuration == 0 || now - _lastEnd > _lastDuration)
            return untilWindow;
        var followers = sharing.Where(g => g.EnqueuedAt >= _lastEnd).Sum(g => g.Pending.Count);
        if (followers >= _lastRows)
            return untilWindow;
        var untilSettled = TimeSpan.FromSeconds((_lastEnd + _lastDuration / 4 - now) / (double)time.TimestampFrequency);
        return untilSettled > untilWindow ? untilSettled : untilWindow;
    }

    private static List<(QueuedJob Job, QueuedPrompt Prompt)> Take(QueuedJob job, int limit)
    {
        var taken = new List<(QueuedJob, QueuedPrompt)>();
        while (taken.Count < limit && job.Pending.TryDequeue(out var prompt)) taken.Add((job, prompt));
        return taken;
    }

    /// <summary>Dequeues up to <paramref name="limit"/> prompts: one from each job in arrival order, then a second from each, and so on.</summary>
    private static List<(QueuedJob Job, QueuedPrompt Prompt)> TakeRoundRobin(List<QueuedJob> jobs, int limit)
    {
        var taken = new List<(QueuedJob, QueuedPrompt)>();
        for (var any = true; any && taken.Count < limit;)
        {
            any = false;
            foreach (var job in jobs)
            {
                if (taken.Count == limit) break;
                if (!job.Pending.TryDequeue(out var prompt)) continue;
                taken.Add((job, prompt));
                any = true;
            }
        }
        return taken;
    }
}

/// <summary>What <see cref="BatchPolicy.NextBatch"/> decided: the prompts to run now (<paramref name="Alone"/>: a job that
/// cannot share, such as beam search), or nothing yet and how long until a batch may start (null: nothing waits).</summary>
internal sealed record NextBatch(IReadOnlyList<(QueuedJob Job, QueuedPrompt Prompt)> Items, bool Alone, TimeSpan? Wait);
