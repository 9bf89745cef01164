using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs.Batches;

namespace Serverless.Functions;

/// <summary><c>POST /api/v1/batches/{id}/cancel</c>: cancelling, then cancelled once the running chunks stop.</summary>
public sealed class CancelBatch(BatchesApi api)
{
    [Function(nameof(CancelBatch))]
    public Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/batches/{id}/cancel")] HttpRequest request,
        string id,
        CancellationToken cancellationToken)
        => api.CancelAsync(request, id, cancellationToken);
}
