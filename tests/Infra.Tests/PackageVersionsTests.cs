using System.Xml.Linq;

namespace Serverless.Infra.Tests;

/// <summary>Central package management declares only what some project uses: an unused package is a dependency nobody needs.</summary>
public sealed class PackageVersionsTests
{
    [Fact]
    public void Every_declared_package_is_referenced_by_a_project()
    {
        var root = BicepCli.InRepository(".");
        var declared = XDocument.Load(Path.Combine(root, "Directory.Packages.props"))
            .Descendants("PackageVersion").Select(e => (string)e.Attribute("Include")!).ToList();
        var projects = Directory.EnumerateFiles(root, "*.*proj", SearchOption.AllDirectories)
            .Concat(Directory.EnumerateFiles(root, "Directory.Build.props", SearchOption.AllDirectories))
            .Where(p => !p.Contains($"{Path.DirectorySeparatorChar}node_modules{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !p.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal));
        var referenced = projects
            .SelectMany(p => XDocument.Load(p).Descendants().Where(e => e.Name.LocalName is "PackageReference" or "PackageDownload" or "GlobalPackageReference"))
            .Select(e => (string?)e.Attribute("Include"))
            .OfType<string>()
            .ToHashSet(StringComparer.OrdinalIgnoreCase);

        Assert.True(referenced.Count > 5, "No project was found.");
        var unused = declared.Where(name => !referenced.Contains(name)).ToList();
        Assert.Empty(unused);
    }
}
