using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace Serverless.Functions;

// Placeholder until the job pipeline lands (issue 5): proves the worker builds and generates functions.metadata.
public sealed class PingFunction
{
    [Function("Ping")]
    public IActionResult Run([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "ping")] HttpRequest request)
        => new OkObjectResult("pong");
}
