using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs;

namespace Serverless.Functions;

/// <summary><c>GET /api/jobs?status=&amp;limit=&amp;continuation=</c>: a page of jobs, newest first.</summary>
public sealed class ListJobs(JobsApi api)
{
    [Function(nameof(ListJobs))]
    public Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "jobs")] HttpRequest request,
        CancellationToken cancellationToken)
        => api.ListAsync(request, cancellationToken);
}
