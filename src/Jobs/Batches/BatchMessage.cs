using System.Text.Json.Serialization;

namespace Serverless.Jobs.Batches;

/// <summary>
/// A message on the batch work queue. <c>validate</c>: read a new batch's input file, check it and fan it out into
/// chunks. <c>chunk</c>: run lines <see cref="FirstLine"/>… of the input file, bytes [<see cref="Offset"/>,
/// <see cref="Offset"/> + <see cref="Length"/>) — one ranged read, no copy of the input per chunk. A message with
/// <see cref="InputBlob"/> (and no kind) is a JSONL dropped by hand: it becomes a batch.
/// </summary>
internal sealed record BatchMessage
{
    public string? Kind { get; init; }
    public string? BatchId { get; init; }
    public int Chunk { get; init; }
    public long Offset { get; init; }
    public int Length { get; init; }
    public int FirstLine { get; init; }

    /// <summary>A dropped batch: <c>container/name.jsonl</c> in the app's storage account.</summary>
    public string? InputBlob { get; init; }
    public string? Endpoint { get; init; }
    public Dictionary<string, string>? Metadata { get; init; }

    public const string Validate = "validate";
    public const string ChunkKind = "chunk";

    [JsonIgnore] public bool IsDrop => Kind is null && InputBlob is not null;
}
