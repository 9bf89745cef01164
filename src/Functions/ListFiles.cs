using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs.Batches;

namespace Serverless.Functions;

/// <summary><c>GET /api/v1/files</c>: files, newest first.</summary>
public sealed class ListFiles(FilesApi api)
{
    [Function(nameof(ListFiles))]
    public Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/files")] HttpRequest request,
        CancellationToken cancellationToken)
        => api.ListAsync(request, cancellationToken);
}
