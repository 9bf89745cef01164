using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs;

namespace Serverless.Functions;

/// <summary><c>GET /api/health</c> (anonymous, for probes): storage reachable, model loaded and its version, queue lengths;
/// 200 when the instance can serve, 503 with the reason when not. Never loads the model.</summary>
public sealed class GetHealth(HealthApi api)
{
    [Function(nameof(GetHealth))]
    public Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "health")] HttpRequest request,
        CancellationToken cancellationToken)
        => api.GetAsync(cancellationToken);
}
