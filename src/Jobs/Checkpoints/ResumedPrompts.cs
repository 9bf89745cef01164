using Microsoft.Extensions.Logging;
using Serverless.Jobs.Specs;
using Serverless.Jobs.Storage;

namespace Serverless.Jobs.Checkpoints;

/// <summary>
/// One attempt of a job over its checkpoint (<c>jobs/_checkpoints/{id}.json</c>): the prompts earlier attempts finished
/// are taken as they are, <see cref="Pending"/> holds only the others, and each prompt this attempt finishes is kept
/// (<see cref="Finished"/>) so the next attempt, if any, skips it too. A single-prompt job has nothing to resume and keeps
/// no checkpoint (no request at all).
/// </summary>
internal sealed class ResumedPrompts : IAsyncDisposable
{
    private readonly CheckpointStore? _store;
    private readonly string _id;
    private readonly IReadOnlyDictionary<int, PromptResult> _earlier;
    private readonly int[] _pending;
    private readonly CheckpointWriter<PromptResult>? _writer;
    private readonly ILogger _logger;

    private ResumedPrompts(CheckpointStore? store, string id, JobSpec spec, IReadOnlyDictionary<int, PromptResult> earlier, CheckpointWriter<PromptResult>? writer,
        ILogger logger)
    {
        _store = store;
        _logger = logger;
        _id = id;
        _earlier = earlier;
        _writer = writer;
        _pending = [.. Enumerable.Range(0, spec.Prompts.Count).Where(i => !earlier.ContainsKey(i))];
        Pending = _pending.Length == spec.Prompts.Count ? spec : spec with { Prompts = [.. _pending.Select(i => spec.Prompts[i])] };
    }

    /// <summary>The job with only the prompts still to decode (the whole job on a first attempt).</summary>
    public JobSpec Pending { get; }

    /// <summary>Prompts taken from the checkpoint.</summary>
    public int Resumed => _earlier.Count;

    /// <summary>Tokens the taken prompts generated (in an earlier attempt).</summary>
    public int ResumedTokens => _earlier.Values.Sum(r => r.OutputTokens);

    /// <summary>Checkpoint writes this attempt made (for the cost figures).</summary>
    public int Writes => _writer?.Writes ?? 0;

    /// <param name="retry">Whether an earlier attempt may have left a checkpoint (a first attempt reads nothing).</param>
    public static async Task<ResumedPrompts> StartAsync(CheckpointStore store, string id, JobSpec spec, bool retry, TimeSpan interval, TimeProvider time, ILogger logger,
        CancellationToken cancellationToken)
    {
        if (spec.Prompts.Count < 2) return new ResumedPrompts(null, id, spec, new Dictionary<int, PromptResult>(), null, logger);
        var earlier = retry ? await store.ReadAsync<PromptResult>(id, cancellationToken).ConfigureAwait(false) : new Dictionary<int, PromptResult>();
        // A checkpoint of another spec under the same id cannot happen (ids are unique), but never trust indexes out of range.
        earlier = earlier.Where(kv => kv.Key >= 0 && kv.Key < spec.Prompts.Count).ToDictionary();
        return new ResumedPrompts(store, id, spec, earlier, new CheckpointWriter<PromptResult>(store, id, earlier, interval, time, logger), logger);
    }

    /// <summary>The job's own index of the prompt at <paramref name="pendingIndex"/> in <see cref="Pending"/>.</summary>
    public int OriginalIndex(int pendingIndex) => _pending[pendingIndex];

    /// <summary>A prompt of <see cref="Pending"/> finished (by its index there).</summary>
    public void Finished(int pendingIndex, PromptResult result)
    {
        var index = _pending[pendingIndex];
        _writer?.Add(index, result with { Index = index });
    }

    /// <summary>All the job's results in order: the checkpoint's and <paramref name="generated"/> (indexed as in <see cref="Pending"/>).</summary>
    public List<PromptResult> Merge(IReadOnlyList<PromptResult> generated) =>
        [.. _earlier.Values.Concat(generated.Select(r => r with { Index = _pending[r.Index] })).OrderBy(r => r.Index)];

    /// <summary>Saves what finished and is not saved yet, now: before the job goes to another attempt. Bounded (10 s);
    /// a save that fails only costs the next attempt a re-decode.</summary>
    public async Task KeepAsync()
    {
        if (_writer is null) return;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _writer.SaveAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            _logger.LogWarning("Checkpoint {Key}: the save before handing the job on timed out", _id);
        }
    }

    /// <summary>The output is written, or the job ended without one (failed, cancelled): the checkpoint goes (one delete,
    /// only when one was read or written). Best effort: a leftover is never read again.</summary>
    public async Task ForgetAsync()
    {
        if (_writer is null) return;
        _writer.Completed();
        await _writer.DisposeAsync().ConfigureAwait(false); // no save may land after the delete
        if (_earlier.Count == 0 && _writer.Writes == 0) return;
        try
        {
            await _store!.DeleteAsync(_id, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (StorageFailure.Is(e))
        {
            _logger.LogWarning(e, "Checkpoint {Key}: could not delete it", _id);
        }
    }

    public ValueTask DisposeAsync() => _writer?.DisposeAsync() ?? ValueTask.CompletedTask;
}
