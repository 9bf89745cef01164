using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs.Batches;

namespace Serverless.Functions;

/// <summary><c>POST /api/v1/files</c>: uploads a batch input file (multipart, purpose=batch).</summary>
public sealed class CreateFile(FilesApi api)
{
    [Function(nameof(CreateFile))]
    public Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/files")] HttpRequest request,
        CancellationToken cancellationToken)
        => api.UploadAsync(request, cancellationToken);
}
