using Microsoft.Extensions.Configuration.Memory;
using Serverless.Functions;
using Serverless.Jobs;
using Serverless.Jobs.Failover;
using Serverless.Jobs.Models;

namespace Serverless.LocalHost;

/// <summary>
/// Builds the local host. It reads:
/// <list type="bullet">
/// <item>app settings: <c>local.settings.sample.json</c> defaults, then <c>local.settings.json</c> Values (see
/// <see cref="LocalSettings"/>), then environment variables, then the command line (<c>--PromptJobsQueue=…</c>);</item>
/// <item>queue settings: the repository's root <c>host.json</c>, copied beside the host (<see cref="HostJsonQueueSettings"/>);</item>
/// <item>listening address: <c>--urls</c> / <c>ASPNETCORE_URLS</c>, else <c>http://127.0.0.1:7071</c>;</item>
/// <item>function key: <c>LocalHost__FunctionKey</c> (optional): when set, the HTTP functions require it as the Functions
/// host does in Azure (<see cref="HttpRoutes"/>);</item>
/// <item>environment: <c>AZURE_FUNCTIONS_ENVIRONMENT</c>, else ASP.NET Core's (<c>ASPNETCORE_ENVIRONMENT</c>,
/// <c>--environment</c>), else Development, as <c>func start</c> runs the Functions host (<see cref="EnvironmentSetting"/>).</item>
/// </list>
/// <see cref="Usage"/> says the same to people (<c>--help</c>).
/// </summary>
public static class LocalHostApp
{
    public const string DefaultUrl = "http://127.0.0.1:7071";

    public static WebApplication Create(string[] args)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
        });

        // Lowest priority first, under appsettings/environment/command line.
        var sample = Path.Combine(AppContext.BaseDirectory, LocalSettings.SampleFileName);
        var sources = new List<IReadOnlyDictionary<string, string?>>
        {
            // Azure.Core logs every storage request (and every expected 404, e.g. an empty poison queue not created yet);
            // real failures surface as exceptions in the host's own logs. Overridable.
            new Dictionary<string, string?> { ["Logging:LogLevel:Azure.Core"] = "Error", ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning" },
        };
        if (File.Exists(sample)) sources.Add(LocalSettings.ReadValues(sample));
        var localSettings = LocalSettings.Candidates(Environment.CurrentDirectory).FirstOrDefault(File.Exists);
        if (localSettings is not null) sources.Add(LocalSettings.ReadValues(localSettings));
        for (var i = 0; i < sources.Count; i++)
        {
            builder.Configuration.Sources.Insert(i, new MemoryConfigurationSource { InitialData = sources[i] });
        }

        // Core Tools start the Functions host with AZURE_FUNCTIONS_ENVIRONMENT=Development unless it is set, and the host passes
        // it to the worker: the local host does the same (callbacks may then go to http://127.0.0.1, as under func start).
        var environment = builder.Configuration[EnvironmentSetting] is { Length: > 0 } named ? named
            : string.IsNullOrEmpty(builder.Configuration[HostDefaults.EnvironmentKey]) ? Environments.Development
            : builder.Environment.EnvironmentName;
        builder.Environment.EnvironmentName = environment;
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { [EnvironmentSetting] = environment });

        var queueSettings = HostJsonQueueSettings.Read(
            builder.Configuration["LocalHost:HostJson"] ?? Path.Combine(AppContext.BaseDirectory, "host.json"),
            builder.Configuration);

        if (string.IsNullOrEmpty(builder.Configuration["urls"]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        var exporters = TelemetrySetup.Read(builder.Configuration, console: Switch(builder.Configuration, TelemetrySwitch, "console", "none") == "console");
        builder.Services.AddPipelineTelemetry(exporters, ApplicationInsightsSettings.Credential(builder.Configuration));
        // One JSON object per line, for log shippers; the message templates and scopes are the same as the text format.
        if (Switch(builder.Configuration, LogFormatSwitch, "json", "text") == "json") builder.Logging.AddJsonConsole(o => o.IncludeScopes = true);

        builder.Services.AddMvcCore();
        builder.Services.AddPromptJobs(builder.Configuration);
        // Heartbeat and dead-instance sweeps (issue 25, docs/reliability.md).
        builder.Services.AddJobFailoverService();
        // A stop lets running decodes drain (Failover__DrainBudget) and then hands back what is left: give it the time.
        builder.Services.AddOptions<HostOptions>().Configure<FailoverOptions>((host, failover) =>
            host.ShutdownTimeout = TimeSpan.FromTicks(Math.Max(host.ShutdownTimeout.Ticks, (failover.DrainBudget + TimeSpan.FromSeconds(20)).Ticks)));
        builder.Services.AddModelWarmUp(); // docs/cold-start.md
        // The HTTP functions' classes are created per request from these services, as the isolated worker does (HttpRoutes).
        // The queue triggers run in a WebJobs host of their own, restarted after failures (see QueueTriggerHost).
        builder.Services.AddSingleton(queueSettings);
        builder.Services.AddSingleton<QueueTriggerHost>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<QueueTriggerHost>());

        var app = builder.Build();
        HttpRoutes.Map(app);
        app.Logger.LogInformation(
            "Local host ({Environment}): settings from {Settings}; queue settings from host.json: {QueueSettings}; function key {KeyState}; telemetry export: {Exporters}",
            environment, localSettings ?? "defaults + environment", queueSettings,
            string.IsNullOrEmpty(app.Configuration[HttpRoutes.FunctionKeySetting]) ? "not required" : "required", exporters);
        return app;
    }

    /// <summary>The Functions host's environment variable, which Core Tools set to Development.</summary>
    public const string EnvironmentSetting = "AZURE_FUNCTIONS_ENVIRONMENT";

    /// <summary>Whether the command line asks for <see cref="Usage"/> instead of a host.</summary>
    public static bool IsHelp(IReadOnlyList<string> args) => args.Any(a => a is "--help" or "-h" or "-?" or "/?");

    /// <summary>What <c>--help</c> prints.</summary>
    public static string Usage => $"""
        Serverless.LocalHost: the Functions app's functions without Azure Functions Core Tools (HTTP on Kestrel, queue
        triggers under the WebJobs SDK), reading the same host.json and app settings as `func start`.

        Usage: dotnet run --project src/LocalHost -- [options] [--SETTING=VALUE ...]

        Options:
          --urls URL               where to listen (default {DefaultUrl}; also ASPNETCORE_URLS)
          --telemetry console      print spans and metrics to the console as well
          --log-format json        console logs as JSON lines
          --SETTING=VALUE          any app setting, e.g. --PromptJobsQueue=my-queue --Model:Prefix=v2/
          -h, --help               print this and exit

        App settings, later wins: local.settings.sample.json (beside the host), local.settings.json Values (working
        directory, then src/Functions/), environment variables, the command line. Queue settings: host.json, with
        AzureFunctionsJobHost__extensions__queues__* overrides as on Azure.
        LocalHost__FunctionKey=KEY   require KEY (x-functions-key or ?code=) as Azure does; unset: no key, as func start
        {EnvironmentSetting}  default Development, as func start (ASPNETCORE_ENVIRONMENT when only that is set)
        """;

    /// <summary><c>--telemetry console</c>: print spans and metrics to the console (besides any configured exporter).</summary>
    public const string TelemetrySwitch = "telemetry";

    /// <summary><c>--log-format json</c>: console logs as JSON lines instead of text.</summary>
    public const string LogFormatSwitch = "log-format";

    /// <summary>A command-line switch's value, one of <paramref name="allowed"/> (the last is the default); anything else
    /// stops the host naming the switch and its values.</summary>
    private static string Switch(IConfiguration configuration, string name, params string[] allowed)
    {
        var value = configuration[name];
        if (string.IsNullOrEmpty(value)) return allowed[^1];
        return allowed.FirstOrDefault(a => a.Equals(value, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"--{name} must be one of {string.Join(", ", allowed)}, not '{value}'.");
    }
}
