using System.Reflection;

namespace Serverless.EndToEnd.Tests.Infrastructure;

/// <summary>Paths fixed at build time (see the csproj): the repository root and the built local host and CLI.</summary>
internal static class Paths
{
    public static string RepositoryRoot => Metadata("RepositoryRoot");
    public static string LocalHostDll => Metadata("LocalHostDll");
    public static string CliDll => Metadata("CliDll");

    /// <summary>The committed tiny demo model (random weights) that run.sh uploads too.</summary>
    public static string DemoModelDirectory => Path.Combine(RepositoryRoot, "models", "demo");

    private static string Metadata(string key) =>
        typeof(Paths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;
}
