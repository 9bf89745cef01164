using System.Text.Json.Serialization;

namespace Serverless.Jobs.Batches;

/// <summary>OpenAI's <c>batch</c> object as stored (<c>batches/{id}.json</c>, ETag-conditioned), plus the fan-out's own
/// fields, which the API leaves out (<see cref="Public"/>).</summary>
public sealed record BatchRecord
{
    public required string Id { get; init; }
    public string Object => "batch";
    public required string Endpoint { get; init; }
    public required string InputFileId { get; init; }
    public string CompletionWindow { get; init; } = "24h";
    public string Status { get; init; } = BatchStatus.Validating;
    public string? OutputFileId { get; init; }
    public string? ErrorFileId { get; init; }
    public BatchErrors? Errors { get; init; }
    public long CreatedAt { get; init; }
    public long? InProgressAt { get; init; }
    public long? ExpiresAt { get; init; }
    public long? FinalizingAt { get; init; }
    public long? CompletedAt { get; init; }
    public long? FailedAt { get; init; }
    public long? ExpiredAt { get; init; }
    public long? CancellingAt { get; init; }
    public long? CancelledAt { get; init; }
    public BatchRequestCounts RequestCounts { get; init; } = new(0, 0, 0);
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }

    /// <summary>Chunks the validation made (0 until then).</summary>
    public int? ChunkCount { get; init; }

    /// <summary>Chunks whose results are recorded and counted: a chunk is counted when its index enters this set, so a
    /// redelivered chunk never counts twice.</summary>
    public IReadOnlyList<int>? DoneChunks { get; init; }

    /// <summary>The blob names reserved for the output and error files (their ids), staged into while the batch runs and
    /// committed at finalization; published as <see cref="OutputFileId"/>/<see cref="ErrorFileId"/> then.</summary>
    public string? ReservedOutputFileId { get; init; }
    public string? ReservedErrorFileId { get; init; }

    /// <summary>The object the API answers: OpenAI's fields only.</summary>
    public object Public() => new PublicBatch(this);

    /// <summary>The serialized API view (fields in OpenAI's order, internal ones left out).</summary>
    private sealed class PublicBatch(BatchRecord r)
    {
        public string Id => r.Id;
        public string Object => "batch";
        public string Endpoint => r.Endpoint;
        [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public BatchErrors? Errors => r.Errors;
        public string InputFileId => r.InputFileId;
        public string CompletionWindow => r.CompletionWindow;
        public string Status => r.Status;
        [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? OutputFileId => r.OutputFileId;
        [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public string? ErrorFileId => r.ErrorFileId;
        public long CreatedAt => r.CreatedAt;
        [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public long? InProgressAt => r.InProgressAt;
        [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public long? ExpiresAt => r.ExpiresAt;
        [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public long? FinalizingAt => r.FinalizingAt;
        [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public long? CompletedAt => r.CompletedAt;
        [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public long? FailedAt => r.FailedAt;
        [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public long? ExpiredAt => r.ExpiredAt;
        [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public long? CancellingAt => r.CancellingAt;
        [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public long? CancelledAt => r.CancelledAt;
        public BatchRequestCounts RequestCounts => r.RequestCounts;
        [JsonIgnore(Condition = JsonIgnoreCondition.Never)] public IReadOnlyDictionary<string, string>? Metadata => r.Metadata;
    }
}

/// <summary>OpenAI's batch statuses.</summary>
public static class BatchStatus
{
    public const string Validating = "validating";
    public const string Failed = "failed";
    public const string InProgress = "in_progress";
    public const string Finalizing = "finalizing";
    public const string Completed = "completed";
    public const string Expired = "expired";
    public const string Cancelling = "cancelling";
    public const string Cancelled = "cancelled";

    public static bool IsFinal(string status) => status is Failed or Completed or Expired or Cancelled;
}

public sealed record BatchRequestCounts(int Total, int Completed, int Failed);

/// <summary>OpenAI's <c>errors</c>: <c>{"object": "list", "data": [{"code", "message", "param", "line"}]}</c>.</summary>
public sealed record BatchErrors(IReadOnlyList<BatchValidationError> Data)
{
    public string Object => "list";
}

public sealed record BatchValidationError(string Code, string Message, int? Line = null, string? Param = null);
