namespace Serverless.Jobs;

/// <summary>The <c>error.code</c> values of a failed job.</summary>
internal static class JobErrorCodes
{
    /// <summary>The queue message is empty, Base64-encoded, or not a usable job.</summary>
    public const string InvalidMessage = "invalid_message";
    /// <summary>A generation parameter is unknown or out of range.</summary>
    public const string InvalidParameters = "invalid_parameters";
    /// <summary>A prompt is longer than the context window and the job did not ask for truncation.</summary>
    public const string PromptTooLong = "prompt_too_long";
    /// <summary>The model files do not fit the engine (<c>ModelFormatException</c>): retrying will not help.</summary>
    public const string ModelIncompatible = "model_incompatible";
    /// <summary>The model could not be fetched or loaded (e.g. not uploaded yet); retried until the message is poisoned.</summary>
    public const string ModelUnavailable = "model_unavailable";
    /// <summary>Blob or queue storage failed; retried.</summary>
    public const string StorageError = "storage_error";
    /// <summary>An unexpected error in the worker; retried.</summary>
    public const string InternalError = "internal_error";
    /// <summary>The message was poisoned before any attempt recorded an error (e.g. the worker process died).</summary>
    public const string RetriesExhausted = "retries_exhausted";
    /// <summary>The submit accepted the job but could not enqueue it.</summary>
    public const string EnqueueFailed = "enqueue_failed";
    /// <summary>The job was cancelled (<c>DELETE /api/jobs/{id}</c>) before it finished.</summary>
    public const string Cancelled = "cancelled";
    /// <summary><c>last_error</c> of an attempt whose instance died or shut down; the job was handed to another (issue 25).</summary>
    public const string InstanceLost = "instance_lost";
}
