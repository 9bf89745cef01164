using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Abstractions;
using Serverless.Functions;

namespace Serverless.LocalHost;

/// <summary>
/// Kestrel wiring for the Functions app's HTTP functions, at the routes the Functions host gives them (route prefix
/// <c>api</c>). Function keys are not checked, as under Core Tools.
/// </summary>
internal static class HttpRoutes
{
    public static void Map(IEndpointRouteBuilder routes)
    {
        routes.MapPost("/api/jobs", (HttpContext http, SubmitJob function) =>
            ExecuteAsync(http, function.RunAsync(http.Request, http.RequestAborted)));

        routes.MapGet("/api/jobs/{id}", (HttpContext http, string id, GetJob function) =>
            ExecuteAsync(http, function.RunAsync(http.Request, id, http.RequestAborted)));
    }

    // The functions return MVC action results (the Functions ASP.NET Core integration executes them the same way);
    // minimal APIs do not, so run the result against an ActionContext (needs AddMvcCore's result executors).
    private static async Task ExecuteAsync(HttpContext http, Task<IActionResult> invocation)
    {
        var result = await invocation.ConfigureAwait(false);
        await result.ExecuteResultAsync(new ActionContext(http, http.GetRouteData(), new ActionDescriptor())).ConfigureAwait(false);
    }
}
