using System.Reflection;

namespace Serverless.Functions.Tests;

/// <summary>Folders fixed at build time (see the csproj): the Functions project's output and the repository root.</summary>
internal static class Paths
{
    public static string FunctionsOutputDirectory => Metadata("FunctionsOutputDirectory");
    public static string RepositoryRoot => Metadata("RepositoryRoot");

    /// <summary>The committed tiny demo model (random weights) that run.sh uploads too.</summary>
    public static string DemoModelDirectory => Path.Combine(RepositoryRoot, "models", "demo");

    private static string Metadata(string key) =>
        typeof(Paths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;
}
