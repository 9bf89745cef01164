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
/// host does in Azure (<see cref="HttpRoutes"/>).</item>
/// </list>
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
        builder.Services.AddModelWarmUp(); // docs/cold-start.md
        builder.Services.AddTransient<SubmitJob>();
        builder.Services.AddTransient<GetJob>();
        builder.Services.AddTransient<ListJobs>();
        builder.Services.AddTransient<CancelJob>();
        builder.Services.AddTransient<CancelJobAction>();
        builder.Services.AddTransient<GetHealth>();
        builder.Services.AddTransient<CreateCompletion>();
        builder.Services.AddTransient<GetPlayground>();
        builder.Services.AddTransient<TokenizeText>();
        builder.Services.AddTransient<ListOpenAiModels>();
        builder.Services.AddTransient<GetOpenAiModel>();
        builder.Services.AddTransient<CreateOpenAiCompletion>();
        builder.Services.AddTransient<CreateChatCompletion>();
        foreach (var batchFunction in new[] { typeof(CreateFile), typeof(ListFiles), typeof(GetFile), typeof(GetFileContent), typeof(DeleteFile),
                     typeof(CreateBatch), typeof(ListBatches), typeof(GetBatch), typeof(CancelBatch) })
        {
            builder.Services.AddTransient(batchFunction);
        }
        // The queue triggers run in a WebJobs host of their own, restarted after failures (see QueueTriggerHost).
        builder.Services.AddSingleton(queueSettings);
        builder.Services.AddSingleton<QueueTriggerHost>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<QueueTriggerHost>());

        var app = builder.Build();
        HttpRoutes.Map(app);
        app.Logger.LogInformation(
            "Local host: settings from {Settings}; queue settings from host.json: {QueueSettings}; function key {KeyState}; telemetry export: {Exporters}",
            localSettings ?? "defaults + environment", queueSettings,
            string.IsNullOrEmpty(app.Configuration[HttpRoutes.FunctionKeySetting]) ? "not required" : "required", exporters);
        return app;
    }

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
