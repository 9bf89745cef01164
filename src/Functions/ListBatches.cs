using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs.Batches;

namespace Serverless.Functions;

/// <summary><c>GET /api/v1/batches</c>: batches, newest first.</summary>
public sealed class ListBatches(BatchesApi api)
{
    [Function(nameof(ListBatches))]
    public Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/batches")] HttpRequest request,
        CancellationToken cancellationToken)
        => api.ListAsync(request, cancellationToken);
}
