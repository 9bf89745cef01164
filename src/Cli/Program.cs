using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using Serverless.Cli;

var root = new RootCommand(
    "serverless: the prompt pipeline's command line (models, completions, jobs).\n\n" +
    "Errors print one line, 'error: …', on standard error. Exit codes: 0 success, 1 failure (storage, host, model, " +
    "a failed job), 2 usage error (unknown or missing option, bad value).");
root.Subcommands.Add(Serverless.Cli.Commands.JobCommands.Create());
root.Subcommands.Add(Serverless.Cli.Commands.BatchCommands.Create());
root.Subcommands.Add(Serverless.Cli.Commands.QuantizeCommands.AddTo(Serverless.Cli.Commands.ModelCommands.Create()));
foreach (var command in Serverless.Cli.Commands.InferenceCommands.Create())
    root.Subcommands.Add(command);

// Bare `serverless` (or a group such as `serverless jobs`) shows its help and exits 0, as dotnet and az do.
if (args.Length == 0 || (args.Length == 1 && root.Subcommands.Any(c => c.Name == args[0] && c.Action is null)))
    return await root.Parse([.. args, "--help"]).InvokeAsync();

var parse = root.Parse(args);
if (parse.Action is ParseErrorAction)
{
    // The parser's own reaction prints the whole help to stdout; a mistake deserves its reason on stderr and a pointer.
    var suggestion = CommandSuggestion.For(parse, args);
    if (suggestion is not null)
        CliExit.WriteError($"'{parse.UnmatchedTokens[0]}' is not a command here.");
    else
        foreach (var error in parse.Errors) CliExit.WriteError(error.Message);
    var names = new List<string>();
    for (SymbolResult? r = parse.CommandResult; r is CommandResult c; r = c.Parent) names.Insert(0, c.Command.Name);
    var path = string.Join(' ', names);
    if (suggestion is not null) Console.Error.WriteLine($"Did you mean '{suggestion}'?");
    Console.Error.WriteLine($"Run '{path} --help' for usage.");
    return CliExit.Usage;
}

try
{
    return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (OperationCanceledException)
{
    CliExit.WriteError("cancelled.");
    return CliExit.Failure;
}
catch (Exception e)
{
    // Last resort: what the commands do not expect still ends in one line, not a stack trace.
    CliExit.WriteError($"{e.GetType().Name}: {e.Message}");
    return CliExit.Failure;
}
