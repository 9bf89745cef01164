using Serverless.Inference;
using Serverless.Jobs.Storage;
using Serverless.ModelStore;

namespace Serverless.Jobs;

/// <summary>How an attempt's failure ends: <see cref="Permanent"/> ones fail the job now, the others are worth another
/// delivery (the poison queue bounds them). <see cref="Error"/> is what the record says.</summary>
internal sealed record JobFailure(bool Permanent, JobError Error)
{
    /// <param name="caller">The attempt's token: a storage call cancelled while it is not was timed out by the client (storage unavailable).</param>
    public static JobFailure Of(Exception e, CancellationToken caller) => e switch
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
    internal sealed class PromptAtIndexTooLongException(string field, PromptTooLongException inner) : Exception(inner.Message, inner)
    {
        public string Field { get; } = field;
    }
}
