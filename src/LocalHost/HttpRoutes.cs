using System.Reflection;
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

        // Each route requires the key when its function's HttpTrigger says AuthorizationLevel.Function, as the Functions
        // host reads it from functions.metadata: health (probes carry no key) and the playground page are anonymous.
        app.MapPost("/api/jobs", (HttpContext http, SubmitJob function) =>
            ExecuteAsync(http, KeyFor<SubmitJob>(functionKey), () => function.RunAsync(http.Request, http.RequestAborted)));
        app.MapGet("/api/health", (HttpContext http, GetHealth function) =>
            ExecuteAsync(http, KeyFor<GetHealth>(functionKey), () => function.RunAsync(http.Request, http.RequestAborted)));
        app.MapPost("/api/completions", (HttpContext http, CreateCompletion function) =>
            ExecuteAsync(http, KeyFor<CreateCompletion>(functionKey), () => function.RunAsync(http.Request, http.RequestAborted)));
        app.MapGet("/api/jobs/{id}", (HttpContext http, string id, GetJob function) =>
            ExecuteAsync(http, KeyFor<GetJob>(functionKey), () => function.RunAsync(http.Request, id, http.RequestAborted)));
        app.MapGet("/api/jobs", (HttpContext http, ListJobs function) =>
            ExecuteAsync(http, KeyFor<ListJobs>(functionKey), () => function.RunAsync(http.Request, http.RequestAborted)));
        app.MapDelete("/api/jobs/{id}", (HttpContext http, string id, CancelJob function) =>
            ExecuteAsync(http, KeyFor<CancelJob>(functionKey), () => function.RunAsync(http.Request, id, http.RequestAborted)));
        app.MapPost("/api/jobs/{id}/cancel", (HttpContext http, string id, CancelJobAction function) =>
            ExecuteAsync(http, KeyFor<CancelJobAction>(functionKey), () => function.RunAsync(http.Request, id, http.RequestAborted)));
        app.MapGet("/api/playground", (HttpContext http, GetPlayground function) =>
            ExecuteAsync(http, KeyFor<GetPlayground>(functionKey), () => Task.FromResult(function.Run(http.Request))));
        app.MapGet("/api/v1/models", (HttpContext http, ListOpenAiModels function) =>
            ExecuteAsync(http, KeyFor<ListOpenAiModels>(functionKey), () => Task.FromResult(function.Run(http.Request))));
        app.MapGet("/api/v1/models/{id}", (HttpContext http, string id, GetOpenAiModel function) =>
            ExecuteAsync(http, KeyFor<GetOpenAiModel>(functionKey), () => Task.FromResult(function.Run(http.Request, id))));
        app.MapPost("/api/v1/completions", (HttpContext http, CreateOpenAiCompletion function) =>
            ExecuteAsync(http, KeyFor<CreateOpenAiCompletion>(functionKey), () => function.RunAsync(http.Request, http.RequestAborted)));
        app.MapPost("/api/v1/chat/completions", (HttpContext http, CreateChatCompletion function) =>
            ExecuteAsync(http, KeyFor<CreateChatCompletion>(functionKey), () => function.RunAsync(http.Request, http.RequestAborted)));
        app.MapPost("/api/tokenize", (HttpContext http, TokenizeText function) =>
            ExecuteAsync(http, KeyFor<TokenizeText>(functionKey), () => function.RunAsync(http.Request, http.RequestAborted)));
        MapBatches(app, functionKey);
        // Lowest precedence (a catch-all): only what no route above takes, any method, as UnknownOpenAiRoute under the host.
        app.MapMethods("/api/v1/{**path}", ["GET", "POST", "PUT", "PATCH", "DELETE"], (HttpContext http, UnknownOpenAiRoute function) =>
            ExecuteAsync(http, KeyFor<UnknownOpenAiRoute>(functionKey), () => Task.FromResult(function.Run(http.Request))));
    }

    /// <summary>OpenAI's Files and Batches API (docs/batches.md).</summary>
    private static void MapBatches(WebApplication app, string? functionKey)
    {
        app.MapPost("/api/v1/files", (HttpContext http, CreateFile function) =>
            ExecuteAsync(http, KeyFor<CreateFile>(functionKey), () => function.RunAsync(http.Request, http.RequestAborted)));
        app.MapGet("/api/v1/files", (HttpContext http, ListFiles function) =>
            ExecuteAsync(http, KeyFor<ListFiles>(functionKey), () => function.RunAsync(http.Request, http.RequestAborted)));
        app.MapGet("/api/v1/files/{id}", (HttpContext http, string id, GetFile function) =>
            ExecuteAsync(http, KeyFor<GetFile>(functionKey), () => function.RunAsync(http.Request, id, http.RequestAborted)));
        app.MapGet("/api/v1/files/{id}/content", (HttpContext http, string id, GetFileContent function) =>
            ExecuteAsync(http, KeyFor<GetFileContent>(functionKey), () => function.RunAsync(http.Request, id, http.RequestAborted)));
        app.MapDelete("/api/v1/files/{id}", (HttpContext http, string id, DeleteFile function) =>
            ExecuteAsync(http, KeyFor<DeleteFile>(functionKey), () => function.RunAsync(http.Request, id, http.RequestAborted)));
        app.MapPost("/api/v1/batches", (HttpContext http, CreateBatch function) =>
            ExecuteAsync(http, KeyFor<CreateBatch>(functionKey), () => function.RunAsync(http.Request, http.RequestAborted)));
        app.MapGet("/api/v1/batches", (HttpContext http, ListBatches function) =>
            ExecuteAsync(http, KeyFor<ListBatches>(functionKey), () => function.RunAsync(http.Request, http.RequestAborted)));
        app.MapGet("/api/v1/batches/{id}", (HttpContext http, string id, GetBatch function) =>
            ExecuteAsync(http, KeyFor<GetBatch>(functionKey), () => function.RunAsync(http.Request, id, http.RequestAborted)));
        app.MapPost("/api/v1/batches/{id}/cancel", (HttpContext http, string id, CancelBatch function) =>
            ExecuteAsync(http, KeyFor<CancelBatch>(functionKey), () => function.RunAsync(http.Request, id, http.RequestAborted)));
    }

    /// <summary>The key a function's route requires: none for <see cref="AuthorizationLevel.Anonymous"/>, else the function key
    /// (this host has no master key: Admin-level functions would also take the function key; the app has none).</summary>
    internal static string? KeyFor<TFunction>(string? functionKey) => AuthLevelOf<TFunction>.Level == AuthorizationLevel.Anonymous ? null : functionKey;

    /// <summary>The <see cref="HttpTriggerAttribute.AuthLevel"/> of a Functions class's one function, read once.</summary>
    private static class AuthLevelOf<TFunction>
    {
        public static readonly AuthorizationLevel Level = typeof(TFunction).GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Single(m => m.GetCustomAttribute<FunctionAttribute>() is not null)
            .GetParameters().Select(p => p.GetCustomAttribute<HttpTriggerAttribute>()).Single(a => a is not null)!.AuthLevel;
    }

    // The functions return MVC action results (the Functions ASP.NET Core integration executes them the same way);
    // minimal APIs do not, so run the result against an ActionContext (needs AddMvcCore's result executors).
    private static async Task ExecuteAsync(HttpContext http, string? functionKey, Func<Task<IActionResult>> invoke)
    {
        if (functionKey is not null && !HasKey(http.Request, functionKey))
        {
            http.Response.StatusCode = StatusCodes.Status401Unauthorized;
            http.Response.ContentLength = 0;
            return;
        }
        var result = await invoke().ConfigureAwait(false);
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
