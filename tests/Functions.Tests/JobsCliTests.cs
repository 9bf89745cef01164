using System.Text.Json.Nodes;
using Serverless.Cli.Commands;
using Serverless.Functions.Tests.Infrastructure;

namespace Serverless.Functions.Tests;

/// <summary>The jobs CLI's client (<c>serverless jobs submit|enqueue|wait</c>) against an in-process local host.</summary>
public sealed class JobsCliTests(LocalHostFixture host) : IClassFixture<LocalHostFixture>
{
    private JobClient Client() => new(host.Http.BaseAddress!);

    [Fact]
    public async Task Submit_with_params_then_wait_prints_the_completion_with_token_counts_and_timings()
    {
        using var client = Client();
        var spec = await JobCommands.BuildSpecAsync("Where is Ganymede?", null, ["max_new_tokens=3", "min_new_tokens=3"], CancellationToken.None);

        var accepted = await client.SubmitAsync(spec, CancellationToken.None);
        var id = accepted.GetProperty("id").GetString()!;
        var final = await client.WaitAsync(id, TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(200), CancellationToken.None);
        var output = new StringWriter();
        var exitCode = JobCommands.PrintCompletion(final, output);

        Assert.Equal(0, exitCode);
        var text = output.ToString();
        Assert.Contains($"job {id} succeeded", text);
        Assert.Contains("3 out", text);
        Assert.Contains("timings: tokenize", text);
    }

    [Fact]
    public async Task Submit_stream_reads_the_tokens_over_completions_and_they_add_up_to_the_final_text()
    {
        using var client = Client();
        var spec = await JobCommands.BuildSpecAsync("Where is Ganymede?", null, ["max_new_tokens=6", "min_new_tokens=6"], CancellationToken.None);
        var tokens = new List<(int Index, string Text)>();

        var finals = await client.StreamCompletionAsync(spec, (index, text) => tokens.Add((index, text)), CancellationToken.None);

        var final = Assert.Single(finals);
        Assert.Equal(6, tokens.Count);
        Assert.All(tokens, t => Assert.Equal(0, t.Index));
        Assert.Equal(final.GetProperty("generated_text").GetString(), string.Concat(tokens.Select(t => t.Text)));
    }

    [Fact]
    public async Task Enqueue_returns_the_message_id_that_wait_then_finds_as_the_job()
    {
        using var client = Client();

        var id = await JobClient.EnqueueAsync(host.JobsQueue, "Where is Europa?", CancellationToken.None);
        // The record appears when a worker picks the message up: allow for that.
        var final = await client.WaitAsync(id, TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(200), CancellationToken.None,
            notFoundGrace: TimeSpan.FromSeconds(60));

        Assert.Equal("succeeded", final.Status());
    }

    [Fact]
    public async Task Wait_for_an_unknown_id_says_not_found_at_once_instead_of_waiting_out_the_timeout()
    {
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        var r = await CliProcess.RunAsync("jobs", "wait", "UNKNOWN", "--url", host.Http.BaseAddress!.GetLeftPart(UriPartial.Authority), "--timeout", "60");

        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.StartsWith("error: Job 'UNKNOWN' was not found", r.Stderr, StringComparison.Ordinal);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(30), $"took {stopwatch.Elapsed}");
    }

    [Fact]
    public async Task Wait_with_a_queued_grace_keeps_polling_an_unknown_id_for_that_long_only()
    {
        using var client = Client();
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();

        var e = await Assert.ThrowsAsync<JobClientException>(() => client.WaitAsync("UNKNOWN", TimeSpan.FromSeconds(60),
            TimeSpan.FromMilliseconds(200), CancellationToken.None, notFoundGrace: TimeSpan.FromSeconds(2)));

        Assert.Equal(404, e.StatusCode);
        Assert.Contains("within 2 s", e.Message, StringComparison.Ordinal);
        Assert.InRange(stopwatch.Elapsed, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void Enqueue_takes_a_queue_service_uri_for_identity_based_access()
    {
        var azure = JobCommands.QueueFor("https://stexample.queue.core.windows.net/", "prompt-jobs");
        Assert.Equal(new Uri("https://stexample.queue.core.windows.net/prompt-jobs"), azure.Uri);
        Assert.Equal("stexample", azure.AccountName);

        var local = JobCommands.QueueFor("UseDevelopmentStorage=true", "prompt-jobs");
        Assert.Equal("devstoreaccount1", local.AccountName);
        Assert.Equal("prompt-jobs", local.Name);
    }

    [Fact]
    public async Task A_failed_job_prints_its_error_and_exits_1()
    {
        using var client = Client();
        var id = await JobClient.EnqueueAsync(host.JobsQueue, """{"prompt": "x", "parameters": {"top_p": 7}}""", CancellationToken.None);
        var final = await client.WaitAsync(id, TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(200), CancellationToken.None,
            notFoundGrace: TimeSpan.FromSeconds(60));
        var output = new StringWriter();

        Assert.Equal(1, JobCommands.PrintCompletion(final, output));
        Assert.Contains("failed: invalid_parameters", output.ToString());
    }

    [Fact]
    public async Task Submit_rejections_surface_the_http_status_and_problem()
    {
        using var client = Client();
        var e = await Assert.ThrowsAsync<JobClientException>(() => client.SubmitAsync(new JsonObject { ["prompt"] = "" }, CancellationToken.None));
        Assert.Equal(400, e.StatusCode);
    }

    [Fact]
    public async Task Params_are_read_as_json_when_they_parse_and_as_strings_otherwise()
    {
        var spec = await JobCommands.BuildSpecAsync("p", null,
            ["max_new_tokens=8", "do_sample=true", "top_p=0.9", "stop_strings=[\".\",\"!\"]", "truncation=keep_end"], CancellationToken.None);

        var parameters = spec["parameters"]!.AsObject();
        Assert.Equal(8, parameters["max_new_tokens"]!.GetValue<int>());
        Assert.True(parameters["do_sample"]!.GetValue<bool>());
        Assert.Equal(0.9, parameters["top_p"]!.GetValue<double>());
        Assert.Equal([".", "!"], parameters["stop_strings"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal("keep_end", parameters["truncation"]!.GetValue<string>());
        await Assert.ThrowsAsync<ArgumentException>(() => JobCommands.BuildSpecAsync("p", null, ["no-equals-sign"], CancellationToken.None));
    }

    [Fact]
    public async Task A_callback_url_goes_into_the_spec_and_the_host_checks_it()
    {
        var spec = await JobCommands.BuildSpecAsync("p", null, [], CancellationToken.None, callbackUrl: "https://example.com/hook");
        Assert.Equal("https://example.com/hook", spec["callback_url"]!.GetValue<string>());
        Assert.False((await JobCommands.BuildSpecAsync("p", null, [], CancellationToken.None)).ContainsKey("callback_url"));

        // Sent as is: a URL the host refuses comes back as its 400 naming the field.
        using var client = Client();
        var refused = await JobCommands.BuildSpecAsync("p", null, [], CancellationToken.None, callbackUrl: "not a url");
        var error = await Assert.ThrowsAnyAsync<Exception>(() => client.SubmitAsync(refused, CancellationToken.None));
        Assert.Contains("callback_url", error.Message);
    }

    [Fact]
    public async Task A_file_starting_with_a_brace_is_a_json_spec_that_must_parse_and_any_other_text_is_the_prompt()
    {
        var dir = Directory.CreateTempSubdirectory();
        try
        {
            var specFile = new FileInfo(Path.Combine(dir.FullName, "job.json"));
            await File.WriteAllTextAsync(specFile.FullName, """{"prompts": ["a", "b"]}""");
            var textFile = new FileInfo(Path.Combine(dir.FullName, "prompt.txt"));
            await File.WriteAllTextAsync(textFile.FullName, "Explain {braces} in a prompt: they are just text {here}.");
            var broken = new FileInfo(Path.Combine(dir.FullName, "broken.txt"));
            await File.WriteAllTextAsync(broken.FullName, "{\"prompt\": \"x\",");

            Assert.Equal(2, (await JobCommands.BuildSpecAsync(null, specFile, [], CancellationToken.None))["prompts"]!.AsArray().Count);
            Assert.StartsWith("Explain {braces}", (await JobCommands.BuildSpecAsync(null, textFile, [], CancellationToken.None))["prompt"]!.GetValue<string>());
            // Text that starts with '{' is a spec, as the host reads a message: one that does not parse is refused, not sent as a prompt.
            var e = await Assert.ThrowsAsync<ArgumentException>(() => JobCommands.BuildSpecAsync(null, broken, [], CancellationToken.None));
            Assert.Contains("broken.txt", e.Message);
            Assert.Contains("not valid JSON", e.Message);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}

/// <summary><c>serverless jobs list|cancel</c> and <c>wait</c> on a cancelled job, as a process against the local host.</summary>
public sealed class JobsListCancelCliTests(LocalHostFixture host) : IClassFixture<LocalHostFixture>
{
    [Fact]
    public async Task Cancel_then_list_shows_it_cancelled_and_wait_ends_instead_of_polling_forever()
    {
        var url = host.Http.BaseAddress!.GetLeftPart(UriPartial.Authority);
        var prompts = Enumerable.Range(0, 32).Select(i => $"prompt {i}").ToArray();
        var id = await host.SubmitAsync(new { prompts, parameters = new { min_new_tokens = 512, max_new_tokens = 512, num_beams = 4 } });

        var cancel = await CliProcess.RunAsync("jobs", "cancel", id, "--url", url);
        var list = await CliProcess.RunAsync("jobs", "list", "--status", "cancelled", "--url", url);
        var wait = await CliProcess.RunAsync("jobs", "wait", id, "--url", url, "--timeout", "30");
        var again = await CliProcess.RunAsync("jobs", "cancel", "no-such-job", "--url", url);

        Assert.True(cancel.ExitCode == 0, cancel.ToString());
        Assert.Contains($"job {id} cancelled", cancel.Stdout);
        Assert.True(list.ExitCode == 0, list.ToString());
        var rows = list.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Matches(@"^ID\s+STATUS\s+CREATED \(UTC\)\s+COMPLETED \(UTC\)\s+PROMPTS$", rows[0]);
        Assert.Matches($@"^{id}\s+cancelled\s", rows[1]);
        Assert.True(wait.ExitCode == 1, wait.ToString());
        // The status once ("job ID: Cancelled by request."), not "cancelled: cancelled: Cancelled by request.".
        var line = Assert.Single(wait.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"job {id}: ", line);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(line, "cancel", System.Text.RegularExpressions.RegexOptions.IgnoreCase));
        Assert.True(again.ExitCode == 1, again.ToString());
        Assert.Contains("HTTP 404", again.Stderr);
    }
}

public sealed class JobClientRetryAfterTests
{
    [Theory]
    [InlineData(3, 3.0)]
    [InlineData(600, 60.0)]
    [InlineData(null, 0.5)]
    public void Wait_polls_after_the_hosts_retry_after_capped_at_a_minute(int? seconds, double expected)
    {
        using var response = new HttpResponseMessage(System.Net.HttpStatusCode.OK);
        if (seconds is { } s) response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(s));
        Assert.Equal(TimeSpan.FromSeconds(expected), JobClient.PollDelay(response, TimeSpan.FromMilliseconds(500)));
    }
}
