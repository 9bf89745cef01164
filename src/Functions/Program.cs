using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Serverless.Functions;
using Serverless.Jobs;

var builder = FunctionsApplication.CreateBuilder(args);

// ASP.NET Core integration: HTTP triggers take HttpRequest and return IActionResult, the same types the local host uses.
builder.ConfigureFunctionsWebApplication();

// Worker-side telemetry (dependencies, the worker's logs); the host sends its own request telemetry. Only with a
// connection string: Application Insights 3.x refuses to start without one, which would break `func start` locally.
if (ApplicationInsightsSettings.ConnectionString(builder.Configuration) is { } connectionString)
{
    builder.Services
        .AddApplicationInsightsTelemetryWorkerService(options =>
        {
            options.ConnectionString = connectionString;
            // The resource accepts Entra ID tokens only (infra disables local auth). The host reads
            // APPLICATIONINSIGHTS_AUTHENTICATION_STRING itself; the worker needs the same identity as a credential.
            options.Credential = ApplicationInsightsSettings.Credential(builder.Configuration);
        })
        .ConfigureFunctionsApplicationInsights();
}

builder.Services.AddPromptJobs(builder.Configuration);

builder.Build().Run();
