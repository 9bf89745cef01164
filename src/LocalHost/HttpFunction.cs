using System.Reflection;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace Serverless.LocalHost;

/// <summary>
/// One HTTP function of the Functions app as its attributes state it — the <see cref="FunctionAttribute"/> method, and on
/// its trigger parameter the <see cref="HttpTriggerAttribute"/>'s route, methods and authorization level — read the way
/// the Worker SDK writes them into functions.metadata for the Functions host (a missing route is the function's name;
/// no methods is every method). The local host maps each at <c>/api/{route}</c> and calls the method as the isolated
/// worker does: the trigger parameter gets the request, a <see cref="CancellationToken"/> the request's abort, and any
/// other parameter the route value of its name.
/// </summary>
internal sealed class HttpFunction
{
    /// <summary>host.json's <c>extensions.http.routePrefix</c>: the Functions default, which this app keeps (HostJsonTests).</summary>
    public const string RoutePrefix = "api";

    private readonly Type _class;
    private readonly MethodInfo _method;
    private readonly ParameterInfo[] _parameters;

    private HttpFunction(string name, Type type, MethodInfo method, HttpTriggerAttribute trigger)
    {
        Name = name;
        _class = type;
        _method = method;
        _parameters = method.GetParameters();
        Route = string.IsNullOrEmpty(trigger.Route) ? name : trigger.Route;
        Methods = trigger.Methods is { Length: > 0 } methods ? methods.Select(m => m.ToUpperInvariant()).ToArray() : null;
        AuthLevel = trigger.AuthLevel;
        var unsupported = _parameters.FirstOrDefault(p => IsTrigger(p)
            ? p.ParameterType != typeof(HttpRequest)
            : p.ParameterType != typeof(CancellationToken) && p.ParameterType != typeof(string));
        if (unsupported is not null)
        {
            throw new NotSupportedException($"The local host cannot bind parameter '{unsupported.Name}' ({unsupported.ParameterType.Name}) of function {name}: " +
                "it binds the HttpRequest trigger, a CancellationToken and string route values. Extend HttpFunction.");
        }

        if (!typeof(IActionResult).IsAssignableFrom(method.ReturnType) && method.ReturnType != typeof(Task<IActionResult>))
            throw new NotSupportedException($"Function {name} returns {method.ReturnType.Name}; the local host runs functions that return IActionResult or Task<IActionResult>.");
    }

    /// <summary>The function's name (<see cref="FunctionAttribute.Name"/>).</summary>
    public string Name { get; }

    /// <summary>The trigger's route template without the prefix, e.g. <c>jobs/{id}</c>.</summary>
    public string Route { get; }

    /// <summary>The route under the prefix, as ASP.NET Core maps it: <c>/api/jobs/{id}</c>.</summary>
    public string Pattern => "/" + RoutePrefix + "/" + Route;

    /// <summary>Upper-case HTTP methods, or null for every method.</summary>
    public IReadOnlyList<string>? Methods { get; }

    public AuthorizationLevel AuthLevel { get; }

    /// <summary>Every HTTP-triggered function in <paramref name="assembly"/>, ordered by name.</summary>
    public static IReadOnlyList<HttpFunction> All(Assembly assembly) =>
        assembly.GetExportedTypes()
            .SelectMany(type => type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)
                .Select(method => (type, method, function: method.GetCustomAttribute<FunctionAttribute>())))
            .Where(f => f.function is not null)
            .Select(f => (f.type, f.method, f.function, trigger: f.method.GetParameters().Select(p => p.GetCustomAttribute<HttpTriggerAttribute>()).SingleOrDefault(a => a is not null)))
            .Where(f => f.trigger is not null)
            .Select(f => new HttpFunction(f.function!.Name, f.type, f.method, f.trigger!))
            .OrderBy(f => f.Name, StringComparer.Ordinal)
            .ToArray();

    /// <summary>Calls the function with a new instance of its class (its constructor's services from the request's).</summary>
    public async Task<IActionResult> InvokeAsync(HttpContext http)
    {
        var instance = ActivatorUtilities.GetServiceOrCreateInstance(http.RequestServices, _class);
        var arguments = _parameters.Select(p => Bind(p, http)).ToArray();
        object? returned;
        try
        {
            returned = _method.Invoke(instance, arguments);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
        return returned switch
        {
            Task<IActionResult> task => await task.ConfigureAwait(false),
            IActionResult result => result,
            _ => throw new InvalidOperationException($"Function {Name} returned no result."),
        };
    }

    private static bool IsTrigger(ParameterInfo parameter) => parameter.GetCustomAttribute<HttpTriggerAttribute>() is not null;

    private static object? Bind(ParameterInfo parameter, HttpContext http) =>
        IsTrigger(parameter) ? http.Request
        : parameter.ParameterType == typeof(CancellationToken) ? http.RequestAborted
        : http.Request.RouteValues.TryGetValue(parameter.Name!, out var value) ? value?.ToString()
        : null;
}
