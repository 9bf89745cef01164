using System.Text.Json;

namespace Serverless.Jobs.Batches;

/// <summary>
/// Runs one request line of a batch: the seam between the batch machinery (files, chunks, output assembly) and the
/// serving path. <paramref name="endpoint"/> is <c>/v1/completions</c> or <c>/v1/chat/completions</c>; <paramref name="body"/>
/// the line's <c>body</c>. A bad body or a prompt over the context window is a 400 result, not an exception; an exception is
/// a failure of the instance (the chunk is retried). <paramref name="cancellationToken"/> fires when the batch is cancelled
/// or the host stops: pass it to the decoder so a cancel stops between decode steps.
/// </summary>
public interface IBatchLineRunner
{
    Task<BatchLineResult> RunAsync(string endpoint, JsonElement body, CancellationToken cancellationToken);
}
