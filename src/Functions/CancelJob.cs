using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs;

namespace Serverless.Functions;

/// <summary><c>DELETE /api/jobs/{id}</c>: marks the job cancelled (200), 409 once it has finished, 404 unknown.</summary>
public sealed class CancelJob(JobsApi api)
{
    [Function(nameof(CancelJob))]
    public Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Function, "delete", Route = "jobs/{id}")] HttpRequest request,
        string id,
        CancellationToken cancellationToken)
        => api.CancelAsync(request, id, cancellationToken);
}
