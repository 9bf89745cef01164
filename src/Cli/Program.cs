using System.CommandLine;

var root = new RootCommand("serverless: the prompt pipeline's command line (models, completions, jobs).");
root.Subcommands.Add(Serverless.Cli.Commands.JobCommands.Create());
root.Subcommands.Add(Serverless.Cli.Commands.QuantizeCommands.AddTo(Serverless.Cli.Commands.ModelCommands.Create()));
foreach (var command in Serverless.Cli.Commands.InferenceCommands.Create())
    root.Subcommands.Add(command);
return await root.Parse(args).InvokeAsync();
