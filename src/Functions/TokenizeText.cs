using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Serverless.Jobs.Playground;

namespace Serverless.Functions;

/// <summary><c>POST /api/tokenize</c>: a text's token ids and pieces under the model's tokenizer, and its context window.</summary>
public sealed class TokenizeText(TokenizeApi api)
{
    [Function(nameof(TokenizeText))]
    public Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "tokenize")] HttpRequest request,
        CancellationToken cancellationToken)
        => api.TokenizeAsync(request, cancellationToken);
}
