using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Azure.Functions.Worker.OpenTelemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Serverless.Functions;
using Serverless.Jobs;
using Serverless.Jobs.Failover;
using Serverless.Jobs.Models;

var builder = FunctionsApplication.CreateBuilder(args);

// ASP.NET Core integration: HTTP triggers take HttpRequest and return IActionResult, the same types the local host uses.
builder.ConfigureFunctionsWebApplication();

// OpenTelemetry (host.json telemetryMode "OpenTelemetry"): the worker's traces, metrics and logs go to the exporters
// the settings name (Azure Monitor, OTLP), none without. The Functions defaults continue the host's trace per invocation.
var exporters = TelemetrySetup.Read(builder.Configuration);
builder.Services.AddPipelineTelemetry(exporters, ApplicationInsightsSettings.Credential(builder.Configuration))?.UseFunctionsWorkerDefaults();

builder.Services.AddPromptJobs(builder.Configuration);
// Heartbeat and dead-instance sweeps on every instance while it is up (issue 25, docs/reliability.md).
builder.Services.AddJobFailoverService();
// The model is fetched and loaded while the host is still starting, not on the first message (docs/cold-start.md).
builder.Services.AddModelWarmUp();

builder.Build().Run();
