using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Abstractions;
using Microsoft.Azure.Functions.Worker;
using Serverless.Functions;

namespace Serverless.LocalHost;

/// <summary>
/// Kestrel wiring for the Functions app's HTTP functions, at the routes the Functions host gives them (route prefix
/// <c>api</c>), answering as the Functions host does where a client could tell: with a function key configured
/// (<see cref="FunctionKeySetting"/>) a request to a function without it gets an empty <c>401</c>, and a route that
/// exists only for other methods is a <c>404</c> (ASP.NET Core's own answer would be 405).
/// </summary>
internal static class HttpRoutes
{
    /// <summary>The function key the HTTP functions (<c>AuthorizationLevel.Function</c>) require, sent as
    /// <c>x-functions-key</c> or <c>?code=</c>; empty or absent = no key checked, as under Core Tools.</summary>
    public const string FunctionKeySetting = "LocalHost:FunctionKey";

    public static void Map(WebApplication app)
    {
        var functionKey = app.Configuration[FunctionKeySetting] is { Length: > 0 } key ? key : null;

        // The Functions host matches a function's route and methods together: anything else is "no such function".
        app.Use(async (http, next) =>
        {
            http.Response.OnStarting(() =>
            {
                if (http.Response.StatusCode == StatusCodes.Status405MethodNotAllowed)
                {
                    http.Response.StatusCode = StatusCodes.Status404NotFound;
                    http.Response.Headers.Allow = default;
                }
                return Task.CompletedTask;
            });
            await next(http).ConfigureAwait(false);
        });

        // The Functions host's home page: "/" answers 200 with a page saying the app is up, so an address opened in a
        // browser (or probed) shows a running host rather than an empty 404.
        app.Map("/", () => Results.Content(HomePage, "text/html"));

        // Every HTTP function of the Functions app, at the route, methods and authorization level its [HttpTrigger] states,
        // as the Functions host reads them from functions.metadata: a new function needs no edit here.
        foreach (var function in HttpFunction.All(typeof(SubmitJob).Assembly))
        {
            var required = function.AuthLevel == AuthorizationLevel.Anonymous ? null : functionKey;
            RequestDelegate handler = http => ExecuteAsync(http, required, function);
            if (function.Methods is null)
                app.Map(function.Pattern, handler);
            else
                app.MapMethods(function.Pattern, function.Methods, handler);
        }
    }

    /// <summary>The page at <c>/</c>; its title is the Functions host's.</summary>
    internal const string HomePage = """
        <!DOCTYPE html>
        <html lang="en">
        <head><meta charset="utf-8"><title>Your Azure Function App is up and running.</title></head>
        <body>
        <h1>Your Azure Function App is up and running.</h1>
        <p>This is the local host (src/LocalHost) running the app's functions under <code>/api</code>:
        try the <a href="api/playground">playground</a> or <a href="api/health">health</a>.</p>
        </body>
        </html>
        """;

    // The functions return MVC action results (the Functions ASP.NET Core integration executes them the same way);
    // minimal APIs do not, so run the result against an ActionContext (needs AddMvcCore's result executors).
    private static async Task ExecuteAsync(HttpContext http, string? functionKey, HttpFunction function)
    {
        if (functionKey is not null && !HasKey(http.Request, functionKey))
        {
            http.Response.StatusCode = StatusCodes.Status401Unauthorized;
            http.Response.ContentLength = 0;
            return;
        }
        var result = await function.InvokeAsync(http).ConfigureAwait(false);
        await result.ExecuteResultAsync(new ActionContext(http, http.GetRouteData(), new ActionDescriptor())).ConfigureAwait(false);
    }

    /// <summary>As the Functions host: the header, when present, is the key sent (a wrong header is not rescued by a
    /// right <c>?code=</c>); compared in constant time.</summary>
    internal static bool HasKey(HttpRequest request, string functionKey)
    {
        var sent = request.Headers.TryGetValue("x-functions-key", out var header) ? header.ToString() : request.Query["code"].ToString();
        return !string.IsNullOrEmpty(sent) &&
               CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(sent), Encoding.UTF8.GetBytes(functionKey));
    }
}
