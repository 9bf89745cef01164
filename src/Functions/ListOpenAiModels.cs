using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs.OpenAi;

namespace Serverless.Functions;

/// <summary><c>GET /api/v1/models</c> (OpenAI-compatible). Anonymous to the host: the OpenAI SDKs send
/// <c>Authorization: Bearer</c> or <c>api-key</c>, not the function key, so <see cref="OpenAiApi"/> checks its own key.</summary>
public sealed class ListOpenAiModels(OpenAiApi api)
{
    [Function(nameof(ListOpenAiModels))]
    public IActionResult Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/models")] HttpRequest request)
        => api.ListModels(request);
}
