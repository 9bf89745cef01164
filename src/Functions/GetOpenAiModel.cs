using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs.OpenAi;

namespace Serverless.Functions;

/// <summary><c>GET /api/v1/models/{id}</c> (OpenAI-compatible); anonymous to the host, key checked by <see cref="OpenAiApi"/>.</summary>
public sealed class GetOpenAiModel(OpenAiApi api)
{
    [Function(nameof(GetOpenAiModel))]
    public IActionResult Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/models/{id}")] HttpRequest request, string id)
        => api.GetModel(request, id);
}
