using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs;

namespace Serverless.Functions;

/// <summary><c>POST /api/jobs/{id}/cancel</c>: the same as <see cref="CancelJob"/>, for clients that cannot send DELETE.</summary>
public sealed class CancelJobAction(JobsApi api)
{
    [Function(nameof(CancelJobAction))]
    public Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "jobs/{id}/cancel")] HttpRequest request,
        string id,
        CancellationToken cancellationToken)
        => api.CancelAsync(request, id, cancellationToken);
}
