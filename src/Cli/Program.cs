using System.CommandLine;

var root = new RootCommand("serverless: the prompt pipeline's command line (models, completions, jobs).");
return await root.Parse(args).InvokeAsync();
