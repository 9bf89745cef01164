using System.CommandLine;

namespace Serverless.Cli;

/// <summary>
/// "Did you mean": for a command line whose first unknown word stands where a subcommand belongs, the nearest
/// subcommand by edit distance (<c>job list</c> → <c>serverless jobs list</c>), the rest of the line kept as typed.
/// </summary>
internal static class CommandSuggestion
{
    public static string? For(ParseResult parse, IReadOnlyList<string> args)
    {
        var command = parse.CommandResult.Command;
        if (command.Subcommands.Count == 0 || parse.UnmatchedTokens.Count == 0) return null;
        var unknown = parse.UnmatchedTokens[0];
        if (unknown.StartsWith('-')) return null;
        var best = command.Subcommands.Where(c => !c.Hidden)
            .Select(c => (c.Name, Distance: Distance(unknown, c.Name)))
            .OrderBy(c => c.Distance).First();
        // Close enough to be a typo: at most a third of the word changed (job → jobs, stauts → status).
        if (best.Distance > Math.Max(1, best.Name.Length / 3)) return null;
        var at = IndexOf(args, unknown);
        if (at < 0) return null;
        var path = new List<string>();
        for (var c = parse.CommandResult; c is not null; c = c.Parent as System.CommandLine.Parsing.CommandResult) path.Insert(0, c.Command.Name);
        return string.Join(' ', [.. path, best.Name, .. args.Skip(at + 1)]);
    }

    private static int IndexOf(IReadOnlyList<string> args, string token)
    {
        for (var i = 0; i < args.Count; i++)
            if (args[i] == token) return i;
        return -1;
    }

    /// <summary>Edit distance with a swap of two neighbours as one edit (optimal string alignment), case-insensitive:
    /// <c>modle</c> is one edit from <c>model</c>.</summary>
    internal static int Distance(string a, string b)
    {
        a = a.ToLowerInvariant();
        b = b.ToLowerInvariant();
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                d[i, j] = Math.Min(Math.Min(d[i, j - 1] + 1, d[i - 1, j] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }
        return d[a.Length, b.Length];
    }
}
