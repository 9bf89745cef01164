using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Jobs.Models;
using Serverless.Jobs.Storage;
using Serverless.Jobs.Tests.Infrastructure;
using Serverless.ModelStore;

namespace Serverless.Jobs.Tests;

/// <summary>Worker paths that need no working model: bad messages, transient failures, duplicates, the poison queue.</summary>
public sealed class WorkerFailureTests
{
    [Fact]
    public async Task Base64_message_fails_the_job_under_the_message_id_saying_how_to_resend()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var encoded = Convert.ToBase64String(Encoding.UTF8.GetBytes("Translate to German: good morning"));
        var message = await host.DropAndReceiveAsync(encoded);

        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, message.DequeueCount, CancellationToken.None);

        var record = await host.RecordAsync(message.MessageId);
        Assert.Equal(JobStatus.Failed, record.Status);
        Assert.Equal("invalid_message", record.Error!.Code);
        Assert.Contains("Base64", record.Error.Message);
        Assert.Contains("Translate to German: good morning", record.Error.Message); // shows what it decoded to
        Assert.Contains("plain text", record.Error.Message);
        Assert.NotNull(record.CompletedAt);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   \n ")]
    public async Task Empty_message_fails_the_job_with_a_reason(string text)
    {
        await using var host = await JobsTestHost.CreateAsync();
        var id = Guid.NewGuid().ToString();
        await host.Worker.ProcessAsync(text, id, 1, CancellationToken.None);
        var record = await host.RecordAsync(id);
        Assert.Equal(JobStatus.Failed, record.Status);
        Assert.Equal("invalid_message", record.Error!.Code);
        Assert.Contains("empty", record.Error.Message);
    }

    [Fact]
    public async Task Hand_dropped_spec_with_invalid_parameters_fails_naming_them_without_touching_the_model()
    {
        await using var host = await JobsTestHost.CreateAsync(); // no model: a permanent error must not wait for one
        var message = await host.DropAndReceiveAsync("""{"prompt": "hi", "parameters": {"top_p": 7, "beams": 2}}""");
        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, message.DequeueCount, CancellationToken.None);

        var record = await host.RecordAsync(message.MessageId);
        Assert.Equal(JobStatus.Failed, record.Status);
        Assert.Equal("invalid_parameters", record.Error!.Code);
        Assert.Contains("parameters.top_p", record.Error.Message);
        Assert.Contains("parameters.beams", record.Error.Message);
    }

    [Fact]
    public async Task Hand_dropped_spec_with_its_own_id_is_recorded_under_that_id()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var message = await host.DropAndReceiveAsync("""{"id": "my-job-1", "prompts": [""]}""");
        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, message.DequeueCount, CancellationToken.None);
        var record = await host.RecordAsync("my-job-1");
        Assert.Equal(JobStatus.Failed, record.Status);
        Assert.Equal("invalid_message", record.Error!.Code);
        Assert.Contains("prompts[0]", record.Error.Message);
        Assert.False(await host.Jobs.GetBlobClient($"{message.MessageId}.json").ExistsAsync());
    }

    [Fact]
    public async Task Malformed_json_spec_fails_instead_of_running_as_a_prompt()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var message = await host.DropAndReceiveAsync("""{"prompt": "hi",}""");
        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, message.DequeueCount, CancellationToken.None);
        var record = await host.RecordAsync(message.MessageId);
        Assert.Equal(JobStatus.Failed, record.Status);
        Assert.Equal("invalid_message", record.Error!.Code);
        Assert.Contains("not valid JSON", record.Error.Message);
    }

    [Fact]
    public async Task A_truncated_json_spec_fails_naming_the_parse_error_instead_of_running_as_a_prompt()
    {
        await using var host = await JobsTestHost.CreateAsync(); // no model: it must fail, not wait for one to run the "prompt"
        var message = await host.DropAndReceiveAsync("{\"prompt\": \"x\",");
        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, message.DequeueCount, CancellationToken.None);
        var record = await host.RecordAsync(message.MessageId);
        Assert.Equal(JobStatus.Failed, record.Status);
        Assert.Equal("invalid_message", record.Error!.Code);
        Assert.Matches(@"not valid JSON at line 1, position \d+: ", record.Error.Message);
    }

    [Fact]
    public async Task Duplicate_delivery_of_a_finished_job_writes_nothing()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var message = await host.DropAndReceiveAsync(Convert.ToBase64String(Encoding.UTF8.GetBytes("hello there")));
        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, 1, CancellationToken.None);
        var blob = host.Jobs.GetBlobClient($"{message.MessageId}.json");
        var before = (await blob.GetPropertiesAsync()).Value.ETag;

        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, 2, CancellationToken.None);

        Assert.Equal(before, (await blob.GetPropertiesAsync()).Value.ETag);
        Assert.False(await host.Completions.GetBlobClient($"{message.MessageId}.json").ExistsAsync());
    }

    [Fact]
    public async Task Missing_model_is_transient_each_attempt_is_recorded_then_the_poison_handler_fails_the_raw_text_job()
    {
        await using var host = await JobsTestHost.CreateAsync(); // the model container does not exist
        const string text = "Summarize: the model has not been uploaded yet.";
        var message = await host.DropAndReceiveAsync(text);

        for (var attempt = 1; attempt <= 2; attempt++)
        {
            await Assert.ThrowsAsync<ModelContainerNotFoundException>(() => host.Worker.ProcessAsync(message.MessageText, message.MessageId, attempt, CancellationToken.None));
            var record = await host.RecordAsync(message.MessageId);
            Assert.Equal(JobStatus.Running, record.Status);
            Assert.Equal(attempt, record.Attempts);
            Assert.Equal("model_unavailable", record.LastError!.Code);
            Assert.Equal(attempt, record.LastError.Attempt);
            Assert.Null(record.Error);
        }

        var running = await host.GetAsync(message.MessageId);
        Assert.Equal("running", running.Body.GetProperty("status").GetString());
        Assert.Equal("model_unavailable", running.Body.GetProperty("last_error").GetProperty("code").GetString());

        // The queue extension re-sends a poisoned message with a NEW id and the same text.
        await host.Poison.HandleAsync(text, Guid.NewGuid().ToString(), CancellationToken.None);

        var failed = await host.RecordAsync(message.MessageId);
        Assert.Equal(JobStatus.Failed, failed.Status);
        Assert.Equal("model_unavailable", failed.Error!.Code);
        Assert.Contains("2 attempt", failed.Error.Message);
        Assert.Contains("does not exist", failed.Error.Message); // the model store's own reason
        Assert.NotNull(failed.CompletedAt);

        // A second poison delivery, or a late worker attempt, changes nothing.
        var etag = (await host.Jobs.GetBlobClient($"{message.MessageId}.json").GetPropertiesAsync()).Value.ETag;
        await host.Poison.HandleAsync(text, Guid.NewGuid().ToString(), CancellationToken.None);
        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, 3, CancellationToken.None);
        Assert.Equal(etag, (await host.Jobs.GetBlobClient($"{message.MessageId}.json").GetPropertiesAsync()).Value.ETag);
    }

    [Fact]
    public async Task Poisoned_http_job_is_failed_with_its_last_error()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var submit = await host.SubmitAsync("""{"prompt": "hello"}""");
        var id = submit.Body.GetProperty("id").GetString()!;
        var message = await host.ReceiveAsync();
        await Assert.ThrowsAsync<ModelContainerNotFoundException>(() => host.Worker.ProcessAsync(message.MessageText, message.MessageId, 1, CancellationToken.None));
        Assert.False(await host.Jobs.GetBlobClient($"{message.MessageId}.json").ExistsAsync()); // recorded under the job id

        await host.Poison.HandleAsync(message.MessageText, Guid.NewGuid().ToString(), CancellationToken.None);

        var status = await host.GetAsync(id);
        Assert.Equal("failed", status.Body.GetProperty("status").GetString());
        Assert.Equal("model_unavailable", status.Body.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(1, status.Body.GetProperty("attempts").GetInt32());
        Assert.False(status.Headers.ContainsKey("Retry-After"));
    }

    [Fact]
    public async Task Poison_message_the_worker_never_saw_becomes_a_failed_job_under_the_poison_message_id()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var poisonId = Guid.NewGuid().ToString();
        await host.Poison.HandleAsync("some prompt nobody processed", poisonId, CancellationToken.None);
        var record = await host.RecordAsync(poisonId);
        Assert.Equal(JobStatus.Failed, record.Status);
        Assert.Equal("retries_exhausted", record.Error!.Code);
    }
    [Fact]
    public async Task A_storage_call_the_client_timed_out_is_recorded_as_storage_error_and_retried()
    {
        // Azure.Core ends a try that outlasts its network timeout with a TaskCanceledException (no TimeoutException inside)
        // and, after the last retry, an AggregateException of them, while the caller's own token is still live.
        var timedOut = new AggregateException(Enumerable.Range(0, 3).Select(_ => new TaskCanceledException("The operation was cancelled because it exceeded the configured timeout of 0:00:05.")));
        await using var host = await JobsTestHost.CreateAsync(services: services => services.AddSingleton<IJobModelSource>(new ThrowingModelSource(timedOut)));
        var message = await host.DropAndReceiveAsync("Summarize: storage is slow today.");

        await Assert.ThrowsAsync<AggregateException>(() => host.Worker.ProcessAsync(message.MessageText, message.MessageId, 1, CancellationToken.None));

        var record = await host.RecordAsync(message.MessageId);
        Assert.Equal(JobStatus.Running, record.Status);
        Assert.Equal("storage_error", record.LastError!.Code);
        Assert.Contains("after 3 tries", record.LastError.Message);
    }

    private sealed class ThrowingModelSource(Exception error) : IJobModelSource
    {
        public Task<JobModelLease> AcquireAsync(CancellationToken cancellationToken) => Task.FromException<JobModelLease>(error);
    }
}
