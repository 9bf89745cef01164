using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs;

namespace Serverless.Functions;

/// <summary><c>POST /api/jobs</c>: validates a job spec, records it as queued and enqueues it (202 + Location).</summary>
public sealed class SubmitJob(JobsApi api)
{
    [Function(nameof(SubmitJob))]
    public Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "jobs")] HttpRequest request,
        CancellationToken cancellationToken)
        => api.SubmitAsync(request, cancellationToken);
}
