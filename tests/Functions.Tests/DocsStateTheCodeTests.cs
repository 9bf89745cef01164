using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Serverless.Functions.Tests;

/// <summary>
/// Where the docs restate a number the code or host.json holds (queue settings, how many functions of each kind), they
/// state the current one: every such statement in README.md and docs/*.md is read and compared, and the pages that
/// describe the settings and the functions must make the statements at all.
/// </summary>
public sealed partial class DocsStateTheCodeTests
{
    private static readonly string[] Pages =
        [Path.Combine(Paths.RepositoryRoot, "README.md"), .. Directory.GetFiles(Path.Combine(Paths.RepositoryRoot, "docs"), "*.md")];

    private static JsonElement Queues()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(Paths.RepositoryRoot, "host.json")));
        return document.RootElement.GetProperty("extensions").GetProperty("queues").Clone();
    }

    private static string Text(string page) => Regex.Replace(File.ReadAllText(page), @"\s+", " ");

    private static string Name(string page) => Path.GetRelativePath(Paths.RepositoryRoot, page);

    [Theory]
    [InlineData("batchSize")]
    [InlineData("newBatchThreshold")]
    [InlineData("maxDequeueCount")]
    public void Every_count_the_docs_give_a_host_json_queue_setting_is_its_value(string setting)
    {
        var actual = Queues().GetProperty(setting).GetInt32();
        var stated = Pages.SelectMany(page => Regex.Matches(Text(page), $@"`{setting}` (\d+)\b").Select(m => (page, value: int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))))
            .ToList();

        Assert.All(stated, s => Assert.True(s.value == actual, $"{Name(s.page)} says `{setting}` {s.value}; host.json has {actual}."));
        Assert.Contains(stated, s => Name(s.page) == "README.md");
        Assert.Contains(stated, s => Name(s.page) == Path.Combine("docs", "local-and-functions.md"));
    }

    [Theory]
    [InlineData("visibilityTimeout")]
    [InlineData("maxPollingInterval")]
    public void Every_duration_the_docs_give_a_host_json_queue_setting_is_its_value(string setting)
    {
        var actual = TimeSpan.Parse(Queues().GetProperty(setting).GetString()!, CultureInfo.InvariantCulture);
        var stated = Pages.SelectMany(page => Regex.Matches(Text(page), $@"`{setting}` (\d+(?:\.\d+)?) (ms|s|seconds?|minutes?)\b").Select(m => (page, text: m.Value,
                value: m.Groups[2].Value switch
                {
                    "ms" => TimeSpan.FromMilliseconds(double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)),
                    "minute" or "minutes" => TimeSpan.FromMinutes(double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)),
                    _ => TimeSpan.FromSeconds(double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)),
                })))
            .ToList();

        Assert.All(stated, s => Assert.True(s.value == actual, $"{Name(s.page)} says \"{s.text}\"; host.json has {actual}."));
        Assert.Contains(stated, s => Name(s.page) == "README.md");
        Assert.Contains(stated, s => Name(s.page) == Path.Combine("docs", "local-and-functions.md"));
    }

    [Fact]
    public void Every_number_of_messages_in_flight_per_instance_the_docs_give_is_batch_size_plus_new_batch_threshold()
    {
        var actual = Queues().GetProperty("batchSize").GetInt32() + Queues().GetProperty("newBatchThreshold").GetInt32();
        var stated = Pages.SelectMany(page => InFlight().Matches(Text(page)).Select(m => (page, text: m.Value, value: int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))))
            .ToList();

        Assert.All(stated, s => Assert.True(s.value == actual, $"{Name(s.page)} says \"{s.text}\"; host.json allows {actual}."));
        Assert.NotEmpty(stated);
    }

    [Fact]
    public void The_local_and_functions_page_states_the_number_of_http_and_queue_functions_the_build_declares()
    {
        var stated = $"{FunctionsMetadataTests.Words(FunctionsMetadataTests.Count("httpTrigger"))} HTTP functions and " +
                     $"{FunctionsMetadataTests.Words(FunctionsMetadataTests.Count("queueTrigger"))} queue functions";

        Assert.Contains(stated, Text(Path.Combine(Paths.RepositoryRoot, "docs", "local-and-functions.md")), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void The_guide_states_how_many_http_functions_need_the_function_key_and_how_many_are_anonymous()
    {
        var http = FunctionsMetadataTests.Http();
        var keyed = http.Count(t => t.GetProperty("authLevel").GetString() == "Function");
        var anonymous = http.Count(t => t.GetProperty("authLevel").GetString() == "Anonymous");
        Assert.Equal(http.Count, keyed + anonymous);
        var guide = Text(Path.Combine(Paths.RepositoryRoot, "docs", "guide.md"));

        Assert.Contains($"{FunctionsMetadataTests.Words(http.Count)} HTTP functions: {FunctionsMetadataTests.Words(keyed)} need the function key", guide, StringComparison.OrdinalIgnoreCase);
        Assert.Contains($"{FunctionsMetadataTests.Words(anonymous)} are anonymous to the host", guide, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void The_guides_settings_table_gives_the_defaults_the_sample_settings_hold()
    {
        using var sample = JsonDocument.Parse(File.ReadAllText(Path.Combine(Paths.RepositoryRoot, "local.settings.sample.json")));
        var values = sample.RootElement.GetProperty("Values");
        var rows = File.ReadAllLines(Path.Combine(Paths.RepositoryRoot, "docs", "guide.md")).Select(line => SettingRow().Match(line)).Where(m => m.Success).ToList();

        Assert.True(rows.Count >= 10, $"docs/guide.md's settings table has {rows.Count} rows of one setting and its default.");
        Assert.All(rows, row =>
        {
            var name = row.Groups[1].Value;
            Assert.True(values.TryGetProperty(name, out var value), $"docs/guide.md lists {name}, which local.settings.sample.json does not.");
            Assert.True(value.GetString() == row.Groups[2].Value.Trim(), $"docs/guide.md says {name} defaults to {row.Groups[2].Value.Trim()}; the sample has {value.GetString()}.");
        });
    }

    [GeneratedRegex(@"\b(\d+) (?:jobs|messages) in flight per instance\b")]
    private static partial Regex InFlight();

    /// <summary>A table row of one setting and its one default: <c>| `Jobs__BatchWindowMs` | 5 | …</c>.</summary>
    [GeneratedRegex(@"^\| `([A-Za-z]+__[A-Za-z]+)` \| ([^|/]+?) \|")]
    private static partial Regex SettingRow();
}
