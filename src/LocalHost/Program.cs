// Placeholder until the job pipeline lands (issue 5).
var builder = WebApplication.CreateBuilder(args);
var app = builder.Build();
app.MapGet("/api/ping", () => "pong");
app.Run();
