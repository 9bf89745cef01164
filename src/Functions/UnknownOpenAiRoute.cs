using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs.OpenAi;

namespace Serverless.Functions;

/// <summary>Any other <c>/api/v1/…</c> address or method: OpenAI's 404 (<c>unknown_url</c>) instead of the host's empty one,
/// so an SDK pointed at a route this app lacks says so. Anonymous to the host; the key is checked first.</summary>
/// <remarks>The Functions host tries routes in the order of their functions' names, not by how specific they are (open:
/// azure-functions-host#9876), so this catch-all is named to sort after every other <c>v1</c> function; the end-to-end
/// suite checks the real routes still answer under the real host.</remarks>
public sealed class UnknownOpenAiRoute(OpenAiApi api)
{
    [Function(nameof(UnknownOpenAiRoute))]
    public IActionResult Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", "post", "put", "patch", "delete", Route = "v1/{*path}")] HttpRequest request)
        => api.NotFound(request);
}
