using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.EndToEnd.Tests.Infrastructure;

namespace Serverless.EndToEnd.Tests.Hosts;

/// <summary>
/// <c>func start</c> (Azure Functions Core Tools), when <c>func</c> is on PATH, over a copy of
/// <c>dotnet publish src/Functions</c> with a <c>local.settings.json</c> written from the repository's sample for this
/// fixture's storage names. Core Tools do not enforce function keys locally, so none is sent. Skipped (saying so) only
/// when <c>func</c> is absent.
/// </summary>
public class FuncStartFixture : StartedHostFixture
{
    private string _func = null!;
    private string _app = null!;

    public override string Name => "func-start";

    protected override string? Unavailable()
    {
        _func = FindOnPath("func")!;
        return _func is null ? "Azure Functions Core Tools (func) are not on PATH, so `func start` is not tested here" : null;
    }

    protected override async Task PrepareAsync() => _app = await PublishedApp.AppDirectoryAsync();

    protected override HostProcess Launch(int port, IReadOnlyDictionary<string, string> appSettings)
    {
        FunctionKey = null;
        var root = Path.Combine(WorkDirectory, "app");
        CopyDirectory(_app, root);

        var sample = JsonNode.Parse(File.ReadAllText(Path.Combine(Paths.RepositoryRoot, "local.settings.sample.json")))!.AsObject();
        var values = sample["Values"]!.AsObject();
        foreach (var (name, value) in appSettings) values[name] = value;
        File.WriteAllText(Path.Combine(root, "local.settings.json"), sample.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

        // local.settings.json must win: Core Tools keep a variable already in the environment over the file's value.
        var environment = appSettings.Keys.ToDictionary(name => name, _ => (string?)null);
        return HostProcess.Start(_func, ["start", "--port", port.ToString()], environment, root, Path.Combine(WorkDirectory, "host.log"));
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);

    private static void CopyDirectory(string from, string to)
    {
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)), overwrite: true);
    }
}

public sealed class FuncStartModelMissingFixture : FuncStartFixture
{
    protected override bool ModelMissing => true;
}

public sealed class FuncStartTests(FuncStartFixture host) : EndToEndTests<FuncStartFixture>(host), IClassFixture<FuncStartFixture>;

public sealed class FuncStartPoisonTests(FuncStartModelMissingFixture host) : PoisonTests<FuncStartModelMissingFixture>(host), IClassFixture<FuncStartModelMissingFixture>;
