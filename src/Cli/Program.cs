using System.CommandLine;

var root = new RootCommand("serverless: the prompt pipeline's command line (models, completions, jobs).");
root.Subcommands.Add(Serverless.Cli.Commands.JobCommands.Create());
return await root.Parse(args).InvokeAsync();
