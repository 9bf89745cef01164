using System.Text.Json;

namespace Serverless.Jobs.Tests;

/// <summary>The job lifecycle as a type: transitions, the never-backwards rule, and the stored JSON shape.</summary>
public sealed class JobRecordTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 29, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Created_is_queued_with_no_attempts()
    {
        var record = JobRecord.Created("job-1", T0, JobRecord.FromHttp, promptCount: 2);
        Assert.Equal((JobStatus.Queued, 0, 2, "http", T0), (record.Status, record.Attempts, record.PromptCount, record.Source, record.CreatedAt));
        Assert.False(record.IsTerminal);
    }

    [Fact]
    public void Each_start_counts_an_attempt_and_keeps_the_first_start_time()
    {
        var first = JobRecord.Created("job-1", T0, JobRecord.FromQueue).Started(T0.AddSeconds(1), 3)!;
        var second = first.AttemptFailed(first.Attempts, new JobError(JobErrorCodes.StorageError, "down"), T0.AddSeconds(2))!.Started(T0.AddMinutes(10), 3)!;
        Assert.Equal((JobStatus.Running, 2, 3, T0.AddSeconds(1)), (second.Status, second.Attempts, second.PromptCount, second.StartedAt));
        Assert.Equal((JobErrorCodes.StorageError, 1, T0.AddSeconds(2)), (second.LastError!.Code, second.LastError.Attempt, second.LastError.At));
    }

    [Fact]
    public void Terminal_records_take_no_transition()
    {
        var running = JobRecord.Created("job-1", T0, JobRecord.FromHttp).Started(T0, 1)!;
        JobRecord[] terminal =
        [
            running.Succeed(T0, new JobUsage(1, 2, 3, 4))!,
            running.Fail(T0, new JobError(JobErrorCodes.InternalError, "boom"))!,
            running.Cancel(T0)!,
        ];
        foreach (var record in terminal)
        {
            Assert.True(record.IsTerminal, record.Status.ToString());
            Assert.Null(record.Started(T0, 1));
            Assert.Null(record.AttemptFailed(1, new JobError("x", "y"), T0));
            Assert.Null(record.Succeed(T0, new JobUsage(0, 0, 0, 0)));
            Assert.Null(record.Fail(T0, new JobError("x", "y")));
            Assert.Null(record.Cancel(T0));
            Assert.False(record.CanBecome(running));
            Assert.False(record.CanBecome(record));
            // The callback's outcome, once, is the one change a finished record takes.
            var called = record.CallbackDone(new Callbacks.CallbackDelivery(Callbacks.CallbackDelivery.Delivered, 1, T0, 200))!;
            Assert.True(record.CanBecome(called));
            Assert.Equal(record.Status, called.Status);
            Assert.Null(called.CallbackDone(new Callbacks.CallbackDelivery(Callbacks.CallbackDelivery.Failed, 3, T0)));
            Assert.False(called.CanBecome(called with { }));
            Assert.False(record.CanBecome(running.Cancel(T0.AddSeconds(1))!.CallbackDone(called.Callback!)!));
        }
        Assert.Null(running.CallbackDone(new Callbacks.CallbackDelivery(Callbacks.CallbackDelivery.Delivered, 1, T0)));
    }

    [Fact]
    public void A_record_never_becomes_an_earlier_state_or_another_job()
    {
        var queued = JobRecord.Created("job-1", T0, JobRecord.FromHttp);
        var running = queued.Started(T0, 1)!;
        Assert.True(queued.CanBecome(running));
        Assert.True(running.CanBecome(running.AttemptFailed(1, new JobError("x", "y"), T0)!));
        Assert.False(running.CanBecome(queued));
        Assert.False(queued.CanBecome(JobRecord.Created("job-2", T0, JobRecord.FromHttp)));
    }

    [Fact]
    public void Stored_json_keeps_its_field_names_and_reads_back_whole()
    {
        var record = JobRecord.Created("job-1", T0, JobRecord.FromQueue, 2).Started(T0.AddSeconds(1), 2)!
            .AttemptFailed(1, new JobError(JobErrorCodes.StorageError, "down"), T0.AddSeconds(2))!
            .Fail(T0.AddSeconds(3), new JobError(JobErrorCodes.RetriesExhausted, "gave up"))!;
        var json = JsonSerializer.SerializeToElement(record, JobsJson.Options);

        Assert.Equal(
            ["attempts", "completed_at", "created_at", "creation_id", "error", "id", "last_error", "prompt_count", "source", "started_at", "status"],
            json.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal("failed", json.GetProperty("status").GetString());
        Assert.Equal(["at", "attempt", "code", "message"], json.GetProperty("last_error").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));

        var back = json.Deserialize<JobRecord>(JobsJson.Options)!;
        Assert.Equal(record, back);
    }

    [Fact]
    public void Cancelled_is_written_as_cancelled()
    {
        var cancelled = JobRecord.Created("job-1", T0, JobRecord.FromHttp).Cancel(T0, new JobError("cancelled", "by request"))!;
        var json = JsonSerializer.SerializeToElement(cancelled, JobsJson.Options);
        Assert.Equal("cancelled", json.GetProperty("status").GetString());
        Assert.Equal(JobStatus.Cancelled, json.Deserialize<JobRecord>(JobsJson.Options)!.Status);
    }
}
