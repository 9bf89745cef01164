using Serverless.EndToEnd.Tests.Infrastructure;

namespace Serverless.EndToEnd.Tests.Hosts;

/// <summary>The local host (WebJobs SDK + Kestrel), always: <c>dotnet Serverless.LocalHost.dll</c>, with a function key
/// configured so that it enforces keys as the Functions host does in Azure.</summary>
public class LocalHostFixture : StartedHostFixture
{
    public override string Name => "local";

    protected override string? Unavailable() => null;

    protected override HostProcess Launch(int port, IReadOnlyDictionary<string, string> appSettings)
    {
        var dll = Paths.LocalHostDll;
        Assert.True(File.Exists(dll), $"The local host is not built at {dll}: build the solution (-c Release) first.");
        FunctionKey = NewKey();
        var environment = appSettings.ToDictionary(kv => kv.Key, kv => (string?)kv.Value);
        environment["LocalHost__FunctionKey"] = FunctionKey;
        return HostProcess.Start("dotnet", [dll, "--urls", BaseUrl.ToString().TrimEnd('/')], environment, WorkDirectory, Path.Combine(WorkDirectory, "host.log"));
    }
}

public sealed class LocalHostModelMissingFixture : LocalHostFixture
{
    protected override bool ModelMissing => true;
}

public sealed class LocalHostTests(LocalHostFixture host) : EndToEndTests<LocalHostFixture>(host), IClassFixture<LocalHostFixture>;

public sealed class LocalHostPoisonTests(LocalHostModelMissingFixture host) : PoisonTests<LocalHostModelMissingFixture>(host), IClassFixture<LocalHostModelMissingFixture>;
