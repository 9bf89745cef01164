using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs.Batches;

namespace Serverless.Functions;

/// <summary><c>POST /api/v1/batches</c>: starts a batch over an uploaded file; answers at once (validation is queued).</summary>
public sealed class CreateBatch(BatchesApi api)
{
    [Function(nameof(CreateBatch))]
    public Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/batches")] HttpRequest request,
        CancellationToken cancellationToken)
        => api.CreateAsync(request, cancellationToken);
}
