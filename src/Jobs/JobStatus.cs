using System.Text.Json.Serialization;

namespace Serverless.Jobs;

/// <summary>Where a job is. Ordered: a record only ever moves to a later state, and the terminal ones
/// (<see cref="Succeeded"/>, <see cref="Failed"/>, <see cref="Cancelled"/>) never change. See <see cref="JobRecord"/>.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<JobStatus>))]
internal enum JobStatus
{
    [JsonStringEnumMemberName("queued")] Queued = 0,
    [JsonStringEnumMemberName("running")] Running = 1,
    [JsonStringEnumMemberName("succeeded")] Succeeded = 2,
    [JsonStringEnumMemberName("failed")] Failed = 3,
    [JsonStringEnumMemberName("cancelled")] Cancelled = 4,
}
