using Microsoft.Extensions.Logging;
using Serverless.Jobs.Specs;

namespace Serverless.Jobs.Checkpoints;

/// <summary>
/// One attempt of a multi-prompt job over its checkpoint (<c>jobs/_checkpoints/{id}.json</c>): the prompts earlier attempts
/// finished are taken as they are, <see cref="Pending"/> holds only the others, and each prompt this attempt finishes is
/// kept (<see cref="Finished"/>) so the next attempt, if any, skips it too.
/// </summary>
internal sealed class ResumedPrompts : IAsyncDisposable
{
    private readonly CheckpointStore _store;
    private readonly string _id;
    private readonly IReadOnlyDictionary<int, PromptResult> _earlier;
    private readonly int[] _pending;
    private readonly CheckpointWriter<PromptResult> _writer;

    private ResumedPrompts(CheckpointStore store, string id, JobSpec spec, IReadOnlyDictionary<int, PromptResult> earlier, CheckpointWriter<PromptResult> writer)
    {
        _store = store;
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

    /// <param name="retry">Whether an earlier attempt may have left a checkpoint (a first attempt reads nothing).</param>
    public static async Task<ResumedPrompts> StartAsync(CheckpointStore store, string id, JobSpec spec, bool retry, TimeSpan interval, TimeProvider time, ILogger logger,
        CancellationToken cancellationToken)
    {
        var earlier = retry ? await store.ReadAsync<PromptResult>(id, cancellationToken).ConfigureAwait(false) : new Dictionary<int, PromptResult>();
        // A checkpoint of another spec under the same id cannot happen (ids are unique), but never trust indexes out of range.
        earlier = earlier.Where(kv => kv.Key >= 0 && kv.Key < spec.Prompts.Count).ToDictionary();
        return new ResumedPrompts(store, id, spec, earlier, new CheckpointWriter<PromptResult>(store, id, earlier, interval, time, logger));
    }

    /// <summary>A prompt of <see cref="Pending"/> finished (by its index there).</summary>
    public void Finished(int pendingIndex, PromptResult result)
    {
        var index = _pending[pendingIndex];
        _writer.Add(index, result with { Index = index });
    }

    /// <summary>All the job's results in order: the checkpoint's and <paramref name="generated"/> (indexed as in <see cref="Pending"/>).</summary>
    public List<PromptResult> Merge(IReadOnlyList<PromptResult> generated) =>
        [.. _earlier.Values.Concat(generated.Select(r => r with { Index = _pending[r.Index] })).OrderBy(r => r.Index)];

    /// <summary>The output is written: the checkpoint goes (one delete, only when one was read or written).</summary>
    public async Task CompletedAsync(CancellationToken cancellationToken)
    {
        _writer.Completed();
        if (_earlier.Count > 0 || _writer.Writes > 0) await _store.DeleteAsync(_id, cancellationToken).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => _writer.DisposeAsync();
}
