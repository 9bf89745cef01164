using System.Text.Json;
using Serverless.Functions.Tests.Infrastructure;

namespace Serverless.Functions.Tests;

/// <summary>
/// What <c>serverless jobs …</c> prints, run as a process against the local host: a table with a header or JSON on
/// request, only the id with <c>-q</c>, progress on stderr while waiting, and a host's error as its problem's detail on
/// one line.
/// </summary>
public sealed class JobsCliOutputTests(LocalHostFixture host) : IClassFixture<LocalHostFixture>
{
    private string Url => host.Http.BaseAddress!.GetLeftPart(UriPartial.Authority);

    [Fact]
    public async Task Submit_quiet_prints_only_the_id_of_the_job_it_created()
    {
        var r = await CliProcess.RunAsync("jobs", "submit", "--prompt", "Where is Io?", "-q", "--url", Url);

        Assert.True(r.ExitCode == 0, r.ToString());
        var id = r.Stdout.Trim();
        Assert.DoesNotContain(' ', id);
        Assert.Equal("succeeded", (await host.WaitAsync(id)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Submit_wait_json_prints_the_finished_record_alone_and_the_progress_on_stderr()
    {
        var r = await CliProcess.RunAsync("jobs", "submit", "--prompt", "Where is Callisto?", "--param", "min_new_tokens=256",
            "--param", "max_new_tokens=256", "--param", "num_beams=8", "--wait", "--json", "--url", Url);

        Assert.True(r.ExitCode == 0, r.ToString());
        using var record = JsonDocument.Parse(r.Stdout);
        Assert.Equal("succeeded", record.RootElement.GetProperty("status").GetString());
        Assert.Equal(256, record.RootElement.GetProperty("results")[0].GetProperty("output_tokens").GetInt32());
    }

    [Fact]
    public async Task Bench_with_streams_reports_the_streams_tokens_per_second_beside_the_jobs_and_the_aggregate()
    {
        var r = await CliProcess.RunAsync("jobs", "bench", "--jobs", "4", "--concurrency", "2", "--streams", "2", "--max-new-tokens", "8", "--forced",
            "--json", "--url", Url);

        Assert.True(r.ExitCode == 0, r.ToString());
        using var summary = JsonDocument.Parse(r.Stdout);
        var root = summary.RootElement;
        Assert.Equal(4, root.GetProperty("succeeded").GetInt32());
        Assert.Equal(2, root.GetProperty("streams").GetInt32());
        Assert.Equal(0, root.GetProperty("stream_errors").GetInt32());
        Assert.True(root.GetProperty("stream_tokens").GetInt64() > 0, r.ToString());
        var wall = root.GetProperty("wall_s").GetDouble();
        // wall_s is printed to the millisecond, the rate computed from the unrounded time: on a run of ~30 ms the rounding
        // alone moves tokens / wall_s by ~0.2 % (0.9 tokens/s once, at 1129 tokens/s).
        var fromPrinted = root.GetProperty("stream_tokens").GetInt64() / wall;
        Assert.Equal(fromPrinted, root.GetProperty("stream_tokens_per_second").GetDouble(), Math.Max(0.5, fromPrinted * 0.0005 / (wall - 0.0005) + 0.01));
        Assert.Equal(root.GetProperty("tokens_per_second").GetDouble() + root.GetProperty("stream_tokens_per_second").GetDouble(),
            root.GetProperty("aggregate_tokens_per_second").GetDouble(), 0.5);
        Assert.Contains("streams: 2 concurrent", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_prints_a_table_with_a_header_and_json_on_request()
    {
        var id = await host.SubmitAsync(new { prompt = "Where is Titan?" });
        await host.WaitAsync(id);

        var table = await CliProcess.RunAsync("jobs", "list", "--url", Url);
        var json = await CliProcess.RunAsync("jobs", "list", "--json", "--url", Url);

        Assert.True(table.ExitCode == 0, table.ToString());
        var rows = table.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("ID ", rows[0]);
        Assert.Contains(rows.Skip(1), row => row.StartsWith(id + " ", StringComparison.Ordinal) && row.Contains(" succeeded "));
        Assert.True(json.ExitCode == 0, json.ToString());
        using var page = JsonDocument.Parse(json.Stdout);
        Assert.Contains(page.RootElement.GetProperty("jobs").EnumerateArray(), job => job.GetProperty("id").GetString() == id);
    }

    [Fact]
    public async Task Status_prints_aligned_lines_and_the_whole_record_with_json()
    {
        var id = await host.SubmitAsync(new { prompt = "Where is Rhea?" });
        await host.WaitAsync(id);

        var text = await CliProcess.RunAsync("jobs", "status", id, "--url", Url);
        var json = await CliProcess.RunAsync("jobs", "status", id, "--json", "--url", Url);

        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Matches(@"(?m)^status\s+succeeded$", text.Stdout);
        Assert.Matches($@"(?m)^job\s+{id}$", text.Stdout);
        Assert.True(json.ExitCode == 0, json.ToString());
        using var record = JsonDocument.Parse(json.Stdout);
        Assert.Equal(id, record.RootElement.GetProperty("id").GetString());
        Assert.Equal("succeeded", record.RootElement.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Http_errors_print_the_problems_detail_on_one_line_not_the_raw_problem_json()
    {
        var finished = await host.SubmitAsync(new { prompt = "Where is Dione?" });
        await host.WaitAsync(finished);

        var missing = await CliProcess.RunAsync("jobs", "status", "nosuchjob", "--url", Url);
        var cancel = await CliProcess.RunAsync("jobs", "cancel", finished, "--url", Url);
        var invalid = await CliProcess.RunAsync("jobs", "submit", "--prompt", "x", "--param", "top_p=7", "--url", Url);

        Assert.Contains("HTTP 404", missing.Stderr);
        Assert.Contains("HTTP 409", cancel.Stderr);
        Assert.Contains("HTTP 400", invalid.Stderr);
        foreach (var r in new[] { missing, cancel, invalid })
        {
            Assert.True(r.ExitCode == 1, r.ToString());
            Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("error: ", r.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("\\u0027", r.Stderr);
            Assert.DoesNotContain("\"type\"", r.Stderr);
        }
    }
}
