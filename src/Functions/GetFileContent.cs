using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs.Batches;

namespace Serverless.Functions;

/// <summary><c>GET /api/v1/files/{id}/content</c>: the file's bytes (input, output or error JSONL).</summary>
public sealed class GetFileContent(FilesApi api)
{
    [Function(nameof(GetFileContent))]
    public Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/files/{id}/content")] HttpRequest request,
        string id,
        CancellationToken cancellationToken)
        => api.ContentAsync(request, id, cancellationToken);
}
