using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs;

namespace Serverless.Functions;

/// <summary><c>GET /api/jobs/{id}</c>: the job's status record, with its completion once it has one.</summary>
public sealed class GetJob(JobsApi api)
{
    [Function(nameof(GetJob))]
    public Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "jobs/{id}")] HttpRequest request,
        string id,
        CancellationToken cancellationToken)
        => api.GetAsync(request, id, cancellationToken);
}
