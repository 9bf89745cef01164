using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Serverless.Jobs;

var builder = FunctionsApplication.CreateBuilder(args);

// ASP.NET Core integration: HTTP triggers take HttpRequest and return IActionResult, the same types the local host uses.
builder.ConfigureFunctionsWebApplication();

// Worker-side telemetry (dependencies, custom logs). The host sends its own request telemetry; without
// APPLICATIONINSIGHTS_CONNECTION_STRING both are inert.
builder.Services
    .AddApplicationInsightsTelemetryWorkerService()
    .ConfigureFunctionsApplicationInsights();

builder.Services.AddPromptJobs(builder.Configuration);

builder.Build().Run();
