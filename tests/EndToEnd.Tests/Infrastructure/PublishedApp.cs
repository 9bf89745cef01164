namespace Serverless.EndToEnd.Tests.Infrastructure;

/// <summary>
/// <c>dotnet publish src/Functions</c> of this tree and, when asked, the real Functions host built from
/// <c>../shared/functions-host</c>: what <c>scripts/functions-host.sh prepare</c> makes. test.sh runs it once and passes
/// the folders as <c>E2E_FUNCTIONS_APP_DIR</c> / <c>E2E_FUNCTIONS_HOST_DIR</c>; without them (a targeted
/// <c>dotnet test</c>) the first fixture that needs them runs the script, once per test run.
/// </summary>
internal static class PublishedApp
{
    private static readonly Lazy<Task<IReadOnlyDictionary<string, string>>> Prepared = new(PrepareAsync);

    /// <summary>The real host's source folder: <c>E2E_FUNCTIONS_HOST_SRC</c>, else <c>../shared/functions-host</c>
    /// beside the repository.</summary>
    public static string HostSourceDirectory =>
        Environment.GetEnvironmentVariable("E2E_FUNCTIONS_HOST_SRC") is { Length: > 0 } s
            ? Path.GetFullPath(s)
            : Path.GetFullPath(Path.Combine(Paths.RepositoryRoot, "..", "shared", "functions-host"));

    public static async Task<string> AppDirectoryAsync() => await GetAsync("E2E_FUNCTIONS_APP_DIR");

    public static async Task<string> HostDirectoryAsync() => await GetAsync("E2E_FUNCTIONS_HOST_DIR");

    private static async Task<string> GetAsync(string name)
    {
        if (Environment.GetEnvironmentVariable(name) is { Length: > 0 } given) return given;
        var prepared = await Prepared.Value;
        return prepared.TryGetValue(name, out var value) ? value
            : throw new InvalidOperationException($"scripts/functions-host.sh prepare gave no {name}.");
    }

    private static async Task<IReadOnlyDictionary<string, string>> PrepareAsync()
    {
        var script = Path.Combine(Paths.RepositoryRoot, "scripts", "functions-host.sh");
        var start = new System.Diagnostics.ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add("prepare");
        start.Environment["E2E_FUNCTIONS_HOST_SRC"] = HostSourceDirectory;
        using var process = System.Diagnostics.Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{script} prepare failed ({process.ExitCode}): {await stderr}");
        return (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.StartsWith("export ", StringComparison.Ordinal) ? line["export ".Length..] : line)
            .Select(line => line.Split('=', 2))
            .Where(parts => parts.Length == 2)
            .ToDictionary(parts => parts[0], parts => parts[1].Trim('\''));
    }
}
