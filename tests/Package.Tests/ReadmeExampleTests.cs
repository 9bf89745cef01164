using System.Text.RegularExpressions;

namespace Serverless.Inference.PackageTests;

/// <summary>The package README's example: it is the code this suite compiles, and it runs against models/demo.</summary>
public sealed partial class ReadmeExampleTests
{
    [Fact]
    public void The_packed_README_is_the_one_in_the_source_tree()
    {
        // A stale package (an older pack of the same version) would fail here first.
        var packed = File.ReadAllText(Path.Combine(PackageFiles.PackageFolder, "README.md"));
        var source = File.ReadAllText(Path.Combine(PackageFiles.ProjectDirectory, "..", "..", "src", "Inference", "README.md"));
        Assert.Equal(source, packed);
    }

    [Fact]
    public void The_packed_README_shows_the_code_of_the_example_this_suite_runs()
    {
        var readme = File.ReadAllText(Path.Combine(PackageFiles.PackageFolder, "README.md"));
        var block = CSharpBlock().Match(readme);
        Assert.True(block.Success, "The package README has no ```csharp block.");

        var source = File.ReadAllLines(Path.Combine(PackageFiles.ProjectDirectory, "ReadmeExample.cs"));
        var usings = source.TakeWhile(line => !line.StartsWith("namespace", StringComparison.Ordinal));
        var body = source.SkipWhile(line => line.Trim() != "// README begin").Skip(1).TakeWhile(line => line.Trim() != "// README end");
        Assert.Equal(Normalize(block.Groups[1].Value.Split('\n')), Normalize(usings.Concat(body)));
    }

    [Fact]
    public async Task The_README_example_runs_against_the_demo_model_and_prints_the_chat_response_with_its_usage()
    {
        var output = new StringWriter();
        var previous = Console.Out;
        Console.SetOut(output);
        try
        {
            await ReadmeExample.RunAsync();
        }
        finally
        {
            Console.SetOut(previous);
        }
        Assert.Matches(@"\(\d+ tokens, (stop|length)\)\r?\n?$", output.ToString());
    }

    // Lines without their indentation, blank lines dropped: the README's code is the method body, un-indented.
    private static string[] Normalize(IEnumerable<string> lines) =>
        lines.Select(line => line.Trim()).Where(line => line.Length > 0).ToArray();

    [GeneratedRegex(@"```csharp\r?\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();
}
