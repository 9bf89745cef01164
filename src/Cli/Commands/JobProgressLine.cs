using System.Text.Json;

namespace Serverless.Cli.Commands;

/// <summary>
/// The progress of a job being waited for, on stderr (stdout stays for the completion): its status, then
/// <c>prompts_done/prompts_total</c> and tokens generated while it runs. On a terminal the line is redrawn in place; in a
/// log (stderr redirected) each change is a line of its own.
/// </summary>
internal sealed class JobProgressLine(TextWriter output)
{
    private readonly bool _redraw = !Console.IsErrorRedirected;
    private string? _last;
    private int _width;

    /// <summary>"2/5 prompts, 37 tokens" from the record's <c>progress</c> (0 done of <c>prompt_count</c> before the first write).</summary>
    public static string? Describe(JsonElement job)
    {
        if (job.TryGetProperty("progress", out var p) && p.ValueKind == JsonValueKind.Object)
            return $"{JobCommands.Num(p, "prompts_done")}/{JobCommands.Num(p, "prompts_total")} prompts, {JobCommands.Num(p, "tokens_generated")} tokens";
        return job.TryGetProperty("prompt_count", out var count) && count.ValueKind == JsonValueKind.Number
            ? $"0/{count.GetRawText()} prompts, 0 tokens"
            : null;
    }

    /// <summary>Called with each poll's record of the unfinished job.</summary>
    public void Report(JsonElement job)
    {
        var status = JobCommands.Str(job, "status");
        var line = status == "running" && Describe(job) is { } progress ? $"running: {progress}" : status;
        if (line == _last) return;
        _last = line;
        if (_redraw)
        {
            output.Write("\r" + line.PadRight(_width));
            _width = line.Length;
        }
        else
        {
            output.WriteLine(line);
        }
        output.Flush();
    }

    /// <summary>Ends a redrawn line so what follows starts on its own.</summary>
    public void Finish()
    {
        if (_redraw && _last is not null) output.WriteLine();
    }
}
