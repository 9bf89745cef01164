using System.Reflection;

namespace Serverless.Inference.PackageTests;

/// <summary>Built only when the feed has no package: the suite cannot test what was not packed, and says so.</summary>
public sealed class PackageMissingTests
{
    [Fact]
    public void The_library_package_is_packed_into_the_feed_before_these_tests_build()
    {
        var path = typeof(PackageMissingTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "InferencePackagePath").Value;
        Assert.Fail($"{path} did not exist when this project was built. Run ./test.sh, or pack it first: "
            + "dotnet pack src/Inference -c Release -o artifacts/feed && rm -rf artifacts/package-tests/packages/serverless.inference, "
            + "then build this project again.");
    }
}
