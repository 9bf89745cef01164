using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs.OpenAi;

namespace Serverless.Functions;

/// <summary><c>POST /api/v1/completions</c> (OpenAI-compatible, JSON or streamed); anonymous to the host, key checked by
/// <see cref="OpenAiApi"/>.</summary>
public sealed class CreateOpenAiCompletion(OpenAiApi api)
{
    [Function(nameof(CreateOpenAiCompletion))]
    public Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/completions")] HttpRequest request,
        CancellationToken cancellationToken)
        => api.CompleteAsync(request, cancellationToken);
}
