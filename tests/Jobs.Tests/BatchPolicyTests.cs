using Serverless.Inference.Generation;
using Serverless.Jobs.Batching;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary>The waiting queue's rules (<see cref="BatchPolicy"/>) on a clock the test moves: no model, no thread.</summary>
public sealed class BatchPolicyTests
{
    private static readonly TimeSpan Window = TimeSpan.FromMilliseconds(100);
    private static readonly GenerationOptions Greedy = new() { MaxNewTokens = 4 };
    private readonly ManualClock _clock = new();

    private BatchPolicy Policy(bool oneJobPerBatch = false, int promptsPerBatch = int.MaxValue) =>
        new(_clock, Window) { OneJobPerBatch = oneJobPerBatch, PromptsPerBatch = promptsPerBatch };

    private static QueuedJob Job(int prompts, GenerationOptions? options = null, int maxRows = 4, bool joinable = false)
    {
        var job = new QueuedJob(null, maxRows, joinable, options ?? Greedy, CancellationToken.None);
        for (var i = 0; i < prompts; i++) job.Pending.Enqueue(new QueuedPrompt(i, $"prompt {i}"));
        return job;
    }

    [Fact]
    public void A_batch_that_is_not_full_waits_for_the_window_of_its_oldest_prompt()
    {
        var policy = Policy();
        policy.Enqueue(Job(2));

        Assert.Equal(Window, policy.NextBatch().Wait);
        _clock.Advance(TimeSpan.FromMilliseconds(60));
        Assert.Equal(TimeSpan.FromMilliseconds(40), policy.NextBatch().Wait);
        _clock.Advance(TimeSpan.FromMilliseconds(40));

        var batch = policy.NextBatch();
        Assert.Equal(2, batch.Items.Count);
        Assert.Null(policy.NextBatch().Wait); // nothing waits
    }

    [Fact]
    public void A_full_batch_starts_at_once()
    {
        var policy = Policy();
        policy.Enqueue(Job(6));

        var batch = policy.NextBatch();

        Assert.Equal(4, batch.Items.Count);
        Assert.Null(batch.Wait);
    }

    [Fact]
    public void A_batch_takes_one_prompt_of_each_job_in_arrival_order_before_a_second_of_any()
    {
        var policy = Policy();
        var many = Job(5);
        var one = Job(1);
        var two = Job(2);
        policy.Enqueue(many);
        policy.Enqueue(one);
        policy.Enqueue(two);

        var batch = policy.NextBatch().Items;

        Assert.Equal([many, one, two, many], batch.Select(b => b.Job));
        Assert.Equal([0, 0, 0, 1], batch.Select(b => b.Prompt.Index));
    }

    [Fact]
    public void A_job_that_cannot_share_runs_alone_with_all_its_prompts_when_its_turn_comes()
    {
        var policy = Policy();
        var beams = Job(6, new GenerationOptions { NumBeams = 2, MaxNewTokens = 4 });
        policy.Enqueue(beams);
        policy.Enqueue(Job(1));

        var batch = policy.NextBatch();

        Assert.True(batch.Alone);
        Assert.Equal(6, batch.Items.Count);
        Assert.All(batch.Items, item => Assert.Same(beams, item.Job));
    }

    [Fact]
    public void Right_after_a_batch_a_smaller_one_waits_for_its_followers_up_to_a_quarter_of_its_run_time()
    {
        var policy = Policy();
        var started = _clock.GetTimestamp();
        _clock.Advance(TimeSpan.FromSeconds(4));
        policy.BatchEnded(rows: 4, started);
        policy.Enqueue(Job(1));
        _clock.Advance(Window);

        // The window has passed, but the 4-row batch that ran 4 s has 1 of its 4 followers.
        Assert.Equal(TimeSpan.FromSeconds(1) - Window, policy.NextBatch().Wait);

        // The other followers arrive: it starts at once.
        policy.Enqueue(Job(3));
        Assert.Equal(4, policy.NextBatch().Items.Count);
    }

    [Fact]
    public void An_idle_instance_waits_only_the_window()
    {
        var policy = Policy();
        var started = _clock.GetTimestamp();
        _clock.Advance(TimeSpan.FromSeconds(1));
        policy.BatchEnded(rows: 4, started);
        _clock.Advance(TimeSpan.FromSeconds(2)); // longer than the last batch ran
        policy.Enqueue(Job(1));

        Assert.Equal(Window, policy.NextBatch().Wait);
    }

    [Fact]
    public void Prompts_join_a_running_batch_once_they_fill_its_join_share_or_have_waited_the_patience_steps()
    {
        var policy = Policy();
        var job = Job(1, maxRows: 16, joinable: true);
        policy.Enqueue(job);

        // 12 running rows: a join takes ceil(12 x 0.25) = 3 prompts; one waits...
        for (var step = 1; step < BatchPolicy.JoinPatienceSteps; step++)
            Assert.Empty(policy.Joining(model: null!, running: 12, free: 4));
        // ...until it has waited the patience.
        Assert.Single(policy.Joining(model: null!, running: 12, free: 4));

        policy.Enqueue(Job(3, maxRows: 16, joinable: true));
        Assert.Equal(3, policy.Joining(model: null!, running: 12, free: 4).Count);
    }

    [Fact]
    public void Prompts_do_not_join_past_a_waiting_job_that_cannot_share()
    {
        var policy = Policy();
        policy.Enqueue(Job(1, new GenerationOptions { NumBeams = 2, MaxNewTokens = 4 }, joinable: true));
        policy.Enqueue(Job(4, joinable: true));

        Assert.Empty(policy.Joining(model: null!, running: 1, free: 3));
        Assert.True(policy.NextBatch().Alone);
    }

    [Fact]
    public void One_job_per_batch_takes_one_job_at_a_time_in_batches_of_its_size_without_waiting_or_joining()
    {
        var policy = Policy(oneJobPerBatch: true, promptsPerBatch: 3);
        var first = Job(5, joinable: true);
        var second = Job(2, joinable: true);
        policy.Enqueue(first);
        policy.Enqueue(second);

        Assert.Empty(policy.Joining(model: null!, running: 1, free: 3));
        var batches = new[] { policy.NextBatch(), policy.NextBatch(), policy.NextBatch() };

        Assert.Equal([3, 2, 2], batches.Select(b => b.Items.Count));
        Assert.All(batches[0].Items.Concat(batches[1].Items), item => Assert.Same(first, item.Job));
        Assert.All(batches[2].Items, item => Assert.Same(second, item.Job));
    }

    [Fact]
    public void A_cancelled_job_leaves_the_queue_with_its_waiting_prompts()
    {
        var policy = Policy();
        var cancelled = Job(3);
        var other = Job(1);
        policy.Enqueue(cancelled);
        policy.Enqueue(other);

        Assert.Equal(3, policy.Cancel(cancelled).Count);
        _clock.Advance(Window);

        Assert.Same(other, Assert.Single(policy.NextBatch().Items).Job);
    }
}
