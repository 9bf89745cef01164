using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs.Batches;

namespace Serverless.Functions;

/// <summary><c>DELETE /api/v1/files/{id}</c>: deletes a file.</summary>
public sealed class DeleteFile(FilesApi api)
{
    [Function(nameof(DeleteFile))]
    public Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = "v1/files/{id}")] HttpRequest request,
        string id,
        CancellationToken cancellationToken)
        => api.DeleteAsync(request, id, cancellationToken);
}
