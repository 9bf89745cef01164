namespace Serverless.Jobs.Batches;

/// <summary>
/// Settings of OpenAI's Files and Batches API (<c>Batches__*</c> app settings; see docs/batches.md).
/// </summary>
public sealed class BatchOptions
{
    /// <summary>Blob container of uploaded files and of the output and error files (<c>BatchFilesContainer</c>).</summary>
    public string FilesContainer { get; set; } = "batch-files";

    /// <summary>Blob container of batch records and chunk markers (<c>BatchesContainer</c>).</summary>
    public string BatchesContainer { get; set; } = "batches";

    /// <summary>Queue of batch work: validation, chunks and dropped input blobs (<c>BatchQueue</c>); its poison queue is
    /// <c>{name}-poison</c>.</summary>
    public string QueueName { get; set; } = "batch-work";

    /// <summary>Largest file an upload takes (<c>Batches__MaxFileBytes</c>); larger is a 413. 200 MB, as OpenAI.</summary>
    public long MaxFileBytes { get; set; } = 200L * 1024 * 1024;

    /// <summary>Most request lines in one batch (<c>Batches__MaxLines</c>); 50,000 as OpenAI.</summary>
    public int MaxLines { get; set; } = 50_000;

    /// <summary>Lines per chunk message (<c>Batches__ChunkSize</c>): the unit of fan-out, of redo after a crash, and of
    /// progress.</summary>
    public int ChunkSize { get; set; } = 100;

    /// <summary>Lines of one chunk run at once (<c>Batches__LineConcurrency</c>), so the instance's decode batches fill.</summary>
    public int LineConcurrency { get; set; } = 4;

    /// <summary>How often the chunks of a batch running on an instance read the batch's status to notice a cancel: one
    /// read per batch per instance per interval, shared by its chunks (<c>Batches__CancelPollMilliseconds</c>).</summary>
    public TimeSpan CancelPollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a batch has to finish (<c>Batches__CompletionWindow</c>, a TimeSpan; OpenAI's <c>24h</c>): its
    /// <c>expires_at</c> is <c>created_at</c> plus this. Lines not done by then go to the error file (<c>batch_expired</c>)
    /// and the batch ends <c>expired</c>. Shorter only for tests.</summary>
    public TimeSpan CompletionWindow { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Most tokens one line may ask for (<c>max_tokens</c>) and the default when it asks nothing.</summary>
    public int DefaultMaxTokens { get; set; } = 64;
}
