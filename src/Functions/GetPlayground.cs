using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs.Playground;

namespace Serverless.Functions;

/// <summary><c>GET /api/playground</c>: the playground page. Anonymous because a browser cannot send a header when it opens
/// a page (and a <c>?code=</c> in an address ends up in its history): the page holds no data, and every call it makes
/// (<c>/api/tokenize</c>, <c>/api/completions</c>, <c>/api/jobs</c>) needs the function key, typed once in the page.</summary>
public sealed class GetPlayground(PlaygroundApi api)
{
    [Function(nameof(GetPlayground))]
    public IActionResult Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "playground")] HttpRequest request)
        => api.GetPage();
}
