using System.Reflection;

namespace Serverless.Inference.PackageTests;

/// <summary>Where the build found things (recorded by the project file as assembly metadata).</summary>
internal static class PackageFiles
{
    /// <summary>The restored package's folder (its README.md, lib/ and nuspec), as a consumer's restore extracts it.</summary>
    public static string PackageFolder => Get("InferencePackageFolder");

    /// <summary>This project's source folder (PublicApi.approved.txt).</summary>
    public static string ProjectDirectory => Get("ProjectDirectory");

    /// <summary>models/demo as copied to the output folder.</summary>
    public static string DemoModel => Path.Combine(AppContext.BaseDirectory, "models", "demo");

    private static string Get(string key) =>
        typeof(PackageFiles).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value
        ?? throw new InvalidOperationException($"The build recorded no {key}.");
}
