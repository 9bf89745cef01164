using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs.Completions;

namespace Serverless.Functions;

/// <summary><c>POST /api/completions</c>: a few prompts completed synchronously, as JSON or streamed as server-sent events
/// (the returned result writes the stream to the response body while the model generates).</summary>
public sealed class CreateCompletion(CompletionsApi api)
{
    [Function(nameof(CreateCompletion))]
    public Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "completions")] HttpRequest request,
        CancellationToken cancellationToken)
        => api.CompleteAsync(request, cancellationToken);
}
