using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs.Batches;

namespace Serverless.Functions;

/// <summary><c>GET /api/v1/files/{id}</c>: a file object.</summary>
public sealed class GetFile(FilesApi api)
{
    [Function(nameof(GetFile))]
    public Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/files/{id}")] HttpRequest request,
        string id,
        CancellationToken cancellationToken)
        => api.GetAsync(request, id, cancellationToken);
}
