using System.Diagnostics;
using Serverless.Inference.Generation;
using Serverless.Inference.Model;

namespace Serverless.Jobs.Batching;

/// <summary>One job's prompts waiting in the <see cref="BatchPolicy"/>: they share its parameters, model and cancellation.</summary>
/// <param name="model">The model its prompts run on (null only in policy tests: prompts of one model).</param>
/// <param name="maxRows">The model's <see cref="ModelOptions.MaxBatchRows"/>.</param>
/// <param name="joinable">Whether rows of the model can join a running batch (<see cref="T5Model.CanJoinRunningBatch"/>).</param>
internal sealed class QueuedJob(T5Model? model, int maxRows, bool joinable, GenerationOptions options, CancellationToken cancellationToken,
    ActivityContext trace = default)
{
    public QueuedJob(T5Model model, GenerationOptions options, CancellationToken cancellationToken, ActivityContext trace)
        : this(model, model.Options.MaxBatchRows, model.CanJoinRunningBatch, options, cancellationToken, trace)
    {
    }

    public T5Model? Model { get; } = model;
    public int MaxRows { get; } = maxRows;
    public bool Joinable { get; } = joinable;
    public GenerationOptions Options { get; } = options;
    public CancellationToken CancellationToken { get; } = cancellationToken;
    /// <summary>The job's <c>jobs.generate</c> span (default when not traced): the parent or a link of the batches that run its prompts.</summary>
    public ActivityContext Trace { get; } = trace;
    /// <summary>When it was queued (the policy's time provider's timestamp).</summary>
    public long EnqueuedAt { get; set; }
    /// <summary>The policy's step count when the job arrived.</summary>
    public long EnqueuedAtStep { get; set; }
    public Queue<QueuedPrompt> Pending { get; } = new();
    /// <summary>The caller's <see cref="DecodeWatch"/> when the job was queued: told when its first prompt gets a row.</summary>
    public DecodeWatch? Decoding { get; } = DecodeWatch.Current;
}

/// <summary>One prompt of a <see cref="QueuedJob"/>, and the task its outcome completes.</summary>
/// <param name="observer">Sees each token as it is generated (a streamed completion); null for a job's prompt.</param>
internal sealed class QueuedPrompt(int index, string text, TokenObserver? observer = null)
{
    public int Index { get; } = index;
    public string Text { get; } = text;
    public TokenObserver? Observer { get; } = observer;
    public TaskCompletionSource<BatchedResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    /// <summary>When its batch started or it joined a running one (Stopwatch ticks): the end of its wait.</summary>
    public long StartedAt { get; set; }
}
