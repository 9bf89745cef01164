using Serverless.EndToEnd.Tests.Infrastructure;

namespace Serverless.EndToEnd.Tests.Hosts;

/// <summary>
/// The real Azure Functions host (WebJobs.Script.WebHost, what <c>func start</c> and Azure run) from
/// <c>../shared/functions-host</c>, over <c>dotnet publish src/Functions</c>, started with its <c>start.sh</c> and a
/// function key: keys are enforced, as in Azure. Skipped only when that folder does not exist (CI requires it).
/// </summary>
public class FunctionsHostFixture : StartedHostFixture
{
    private string _app = null!;
    private string _host = null!;

    public override string Name => "functions-host";

    protected override string? Unavailable() =>
        Directory.Exists(PublishedApp.HostSourceDirectory) ? null
            : $"{PublishedApp.HostSourceDirectory} does not exist (the real Functions host's source; set E2E_FUNCTIONS_HOST_SRC to use another)";

    protected override async Task PrepareAsync()
    {
        _app = await PublishedApp.AppDirectoryAsync();
        _host = await PublishedApp.HostDirectoryAsync();
    }

    protected override HostProcess Launch(int port, IReadOnlyDictionary<string, string> appSettings)
    {
        FunctionKey = NewKey();
        var environment = appSettings.ToDictionary(kv => kv.Key, kv => (string?)kv.Value);
        environment["FUNCTION_KEY"] = FunctionKey;
        environment["MASTER_KEY"] = NewKey();
        environment["SECRETS_DIR"] = Path.Combine(WorkDirectory, "secrets");
        environment["FUNCTIONS_LOG_PATH"] = Path.Combine(WorkDirectory, "logs");
        return HostProcess.Start("bash", [Path.Combine(PublishedApp.HostSourceDirectory, "start.sh"), _app, port.ToString(), _host],
            environment, WorkDirectory, Path.Combine(WorkDirectory, "host.log"));
    }
}

public sealed class FunctionsHostModelMissingFixture : FunctionsHostFixture
{
    protected override bool ModelMissing => true;
}

public sealed class FunctionsHostTests(FunctionsHostFixture host) : EndToEndTests<FunctionsHostFixture>(host), IClassFixture<FunctionsHostFixture>;

public sealed class FunctionsHostPoisonTests(FunctionsHostModelMissingFixture host) : PoisonTests<FunctionsHostModelMissingFixture>(host), IClassFixture<FunctionsHostModelMissingFixture>;
