using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs.Batches;

namespace Serverless.Functions;

/// <summary><c>GET /api/v1/batches/{id}</c>: a batch object with its current request counts.</summary>
public sealed class GetBatch(BatchesApi api)
{
    [Function(nameof(GetBatch))]
    public Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/batches/{id}")] HttpRequest request,
        string id,
        CancellationToken cancellationToken)
        => api.GetAsync(request, id, cancellationToken);
}
