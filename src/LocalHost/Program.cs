// The local host: the Functions app's function classes under the WebJobs SDK (queue triggers) and Kestrel (HTTP),
// for machines without Azure Functions Core Tools. See LocalHostApp for what it reads and where.
using Serverless.LocalHost;

if (LocalHostApp.IsHelp(args))
{
    Console.WriteLine(LocalHostApp.Usage);
    return 0;
}

await using var app = LocalHostApp.Create(args);
await app.RunAsync();
return 0;
