using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs.OpenAi;

namespace Serverless.Functions;

/// <summary><c>POST /api/v1/chat/completions</c> (OpenAI-compatible, JSON or streamed); anonymous to the host, key checked
/// by <see cref="OpenAiApi"/>.</summary>
public sealed class CreateChatCompletion(OpenAiApi api)
{
    [Function(nameof(CreateChatCompletion))]
    public Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/chat/completions")] HttpRequest request,
        CancellationToken cancellationToken)
        => api.ChatAsync(request, cancellationToken);
}
