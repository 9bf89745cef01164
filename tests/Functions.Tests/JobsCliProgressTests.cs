using Serverless.Functions.Tests.Infrastructure;

namespace Serverless.Functions.Tests;

/// <summary>
/// A host that holds every job running for <see cref="Hold"/> before its batch starts: the batch window
/// (<c>Jobs__BatchWindowMs</c>) is how long the oldest waiting prompt waits for others, and a lone job's prompts never
/// fill a batch, so each job spends the whole window <c>running</c> with none of its prompts done — long enough for any
/// poll of a waiting client to see it, however busy the machine.
/// </summary>
public sealed class HeldJobsHostFixture : LocalHostFixture
{
    public static readonly TimeSpan Hold = TimeSpan.FromSeconds(8);

    protected override IEnumerable<string> Settings =>
    [
        $"Jobs:BatchWindowMs={Hold.TotalMilliseconds}",
        // The CLI follows the Retry-After hint of an unfinished job: poll every second.
        "Jobs:RetryAfterSeconds=1",
    ];
}

/// <summary><c>jobs wait</c> and <c>jobs submit --wait</c> show a running job's progress on stderr (issue 23, item 8).</summary>
public sealed class JobsCliProgressTests(HeldJobsHostFixture host) : IClassFixture<HeldJobsHostFixture>
{
    private string Url => host.Http.BaseAddress!.GetLeftPart(UriPartial.Authority);

    [Fact]
    public async Task Wait_shows_prompts_done_of_prompts_total_and_tokens_on_stderr_while_the_job_runs()
    {
        var id = await host.SubmitAsync(new { prompts = new[] { "Where is Io?", "Where is Europa?", "Where is Ganymede?" }, parameters = new { max_new_tokens = 4 } });

        var r = await CliProcess.RunAsync("jobs", "wait", id, "--url", Url, "--timeout", "120");

        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("running: 0/3 prompts, 0 tokens", r.Stderr, StringComparison.Ordinal);
        Assert.Contains($"job {id} succeeded", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("running:", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_wait_shows_the_progress_on_stderr_and_keeps_stdout_for_the_completion()
    {
        var r = await CliProcess.RunAsync("jobs", "submit", "--prompt", "Where is Callisto?", "--param", "max_new_tokens=4", "--wait", "--url", Url, "--timeout", "120");

        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("running: 0/1 prompts, 0 tokens", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("succeeded", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("running:", r.Stdout, StringComparison.Ordinal);
    }
}
