using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Serverless.Jobs.Callbacks;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary>A job's <c>callback_url</c> gets one signed POST of its final status, against a real HTTP listener.</summary>
public sealed class CallbackTests
{
    private const string Secret = "callback-test-secret-3f9a";

    private static Dictionary<string, string?> Settings(bool development = true) => new()
    {
        ["Callbacks:Secret"] = Secret,
        ["Callbacks:RetryDelayMilliseconds"] = "10",
        ["Callbacks:TimeoutSeconds"] = "2",
        ["AZURE_FUNCTIONS_ENVIRONMENT"] = development ? "Development" : "Production",
    };

    private static string Spec(string url) => JsonSerializer.Serialize(new { prompt = "hello", parameters = new { max_new_tokens = 2 }, callback_url = url });

    [Fact]
    public async Task A_succeeded_job_posts_its_status_once_signed_and_records_the_delivery()
    {
        using var receiver = new CallbackReceiver(200);
        var logs = new CapturingLoggerProvider();
        await using var host = await JobsTestHost.CreateAsync(withModel: true, Settings(), s => s.AddLogging(b => b.AddProvider(logs)));
        var id = (await host.SubmitAsync(Spec(receiver.Url))).Body.GetProperty("id").GetString()!;

        await host.ProcessNextAsync();

        var received = Assert.Single(receiver.Requests);
        Assert.Equal("POST", received.Method);
        Assert.Equal("/hook?token=receiver-own-token", received.PathAndQuery);
        Assert.Equal(id, received.Headers[JobCallbacks.JobIdHeader]);
        var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), received.Body));
        Assert.Equal(expected, received.Headers[JobCallbacks.SignatureHeader]);
        using var body = JsonDocument.Parse(received.Body);
        Assert.Equal(id, body.RootElement.GetProperty("id").GetString());
        Assert.Equal("succeeded", body.RootElement.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Object, body.RootElement.GetProperty("usage").ValueKind);

        var record = await host.RecordAsync(id);
        Assert.Equal(JobStatus.Succeeded, record.Status);
        Assert.Equal(new CallbackDelivery(CallbackDelivery.Delivered, 1, record.Callback!.At, 200), record.Callback);
        var status = (await host.GetAsync(id)).Body;
        Assert.Equal("delivered", status.GetProperty("callback").GetProperty("state").GetString());
        Assert.Equal(receiver.Url, status.GetProperty("callback_url").GetString());
        // Neither the secret nor the receiver's token in its URL is ever logged.
        Assert.DoesNotContain(logs.Entries, e => e.Message.Contains(Secret, StringComparison.Ordinal) || e.Message.Contains("receiver-own-token", StringComparison.Ordinal));
        Assert.Contains(logs.Entries, e => e.Message.Contains("callback delivered", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_receiver_that_answers_500_is_retried_then_given_up_and_the_job_stays_succeeded()
    {
        using var receiver = new CallbackReceiver(500);
        await using var host = await JobsTestHost.CreateAsync(withModel: true, Settings());
        var id = (await host.SubmitAsync(Spec(receiver.Url))).Body.GetProperty("id").GetString()!;

        await host.ProcessNextAsync();

        Assert.Equal(3, receiver.Requests.Count);
        Assert.Equal(["1", "2", "3"], receiver.Requests.Select(r => r.Headers["X-Callback-Attempt"]));
        // Every try sends the same signed body.
        Assert.Single(receiver.Requests.Select(r => r.Text).Distinct());
        var record = await host.RecordAsync(id);
        Assert.Equal(JobStatus.Succeeded, record.Status);
        Assert.Equal(CallbackDelivery.Failed, record.Callback!.State);
        Assert.Equal(3, record.Callback.Attempts);
        Assert.Equal(500, record.Callback.StatusCode);
        Assert.True((await host.Completions.GetBlobClient($"{id}.json").ExistsAsync()).Value, "the output stays");

        // A second delivery of the message sends nothing more: the outcome is recorded.
        await host.Worker.ProcessAsync(JsonSerializer.Serialize(new { id, prompts = new[] { "hello" } }), "again", 2, CancellationToken.None);
        Assert.Equal(3, receiver.Requests.Count);
    }

    [Fact]
    public async Task A_receiver_that_refuses_with_a_4xx_is_not_retried()
    {
        using var receiver = new CallbackReceiver(410);
        await using var host = await JobsTestHost.CreateAsync(withModel: true, Settings());
        var id = (await host.SubmitAsync(Spec(receiver.Url))).Body.GetProperty("id").GetString()!;

        await host.ProcessNextAsync();

        Assert.Single(receiver.Requests);
        Assert.Equal(new CallbackDelivery(CallbackDelivery.Failed, 1, (await host.RecordAsync(id)).Callback!.At, 410, "The receiver answered 410."),
            (await host.RecordAsync(id)).Callback);
    }

    [Fact]
    public async Task A_job_cancelled_while_queued_posts_cancelled_when_its_message_comes()
    {
        using var receiver = new CallbackReceiver(204);
        await using var host = await JobsTestHost.CreateAsync(withModel: true, Settings());
        var id = (await host.SubmitAsync(Spec(receiver.Url))).Body.GetProperty("id").GetString()!;
        var cancel = await JobsTestHost.ExecuteAsync(await host.Api.CancelAsync(new Microsoft.AspNetCore.Http.DefaultHttpContext().Request, id, CancellationToken.None));
        Assert.Equal(200, cancel.Status);
        Assert.Empty(receiver.Requests);

        await host.ProcessNextAsync();

        var received = Assert.Single(receiver.Requests);
        Assert.Equal("cancelled", JsonDocument.Parse(received.Body).RootElement.GetProperty("status").GetString());
        var record = await host.RecordAsync(id);
        Assert.Equal(JobStatus.Cancelled, record.Status);
        Assert.Equal(CallbackDelivery.Delivered, record.Callback!.State);
    }

    [Fact]
    public async Task A_job_the_poison_handler_fails_posts_failed()
    {
        using var receiver = new CallbackReceiver(200);
        await using var host = await JobsTestHost.CreateAsync(withModel: true, Settings());
        var id = (await host.SubmitAsync(Spec(receiver.Url))).Body.GetProperty("id").GetString()!;
        var message = await host.ReceiveAsync();

        await host.Poison.HandleAsync(message.MessageText, "poison-" + message.MessageId, CancellationToken.None);

        var received = Assert.Single(receiver.Requests);
        using var body = JsonDocument.Parse(received.Body);
        Assert.Equal("failed", body.RootElement.GetProperty("status").GetString());
        Assert.Equal(JobStatus.Failed, (await host.RecordAsync(id)).Status);
    }

    [Theory]
    [InlineData("""{"prompt": "a", "callback_url": 5}""", true)]
    [InlineData("""{"prompt": "a", "callback_url": "not a url"}""", true)]
    [InlineData("""{"prompt": "a", "callback_url": "ftp://example.com/hook"}""", true)]
    [InlineData("""{"prompt": "a", "callback_url": "https://user:pw@example.com/hook"}""", true)]
    [InlineData("""{"prompt": "a", "callback_url": "http://example.com/hook"}""", false)]
    [InlineData("""{"prompt": "a", "callback_url": "https://127.0.0.1/hook"}""", false)]
    [InlineData("""{"prompt": "a", "callback_url": "https://localhost/hook"}""", false)]
    [InlineData("""{"prompt": "a", "callback_url": "https://10.1.2.3/hook"}""", false)]
    [InlineData("""{"prompt": "a", "callback_url": "https://169.254.169.254/hook"}""", false)]
    [InlineData("""{"prompt": "a", "callback_url": "https://[::1]/hook"}""", false)]
    [InlineData("""{"prompt": "a", "callback_url": "https://[fd00::1]/hook"}""", false)]
    public async Task A_callback_url_that_is_not_allowed_is_a_400_naming_it(string body, bool development)
    {
        await using var host = await JobsTestHost.CreateAsync(settings: Settings(development));

        var reply = await host.SubmitAsync(body);

        Assert.Equal(400, reply.Status);
        Assert.Contains("callback_url", reply.Errors.Keys);
        Assert.Empty(await host.PeekAllAsync());
    }

    [Fact]
    public async Task A_too_long_callback_url_and_a_host_without_a_secret_are_refused()
    {
        await using var host = await JobsTestHost.CreateAsync(settings: Settings());
        var tooLong = await host.SubmitAsync(Spec("https://example.com/" + new string('a', CallbackOptions.MaxUrlLength)));
        await using var unsigned = await JobsTestHost.CreateAsync(settings: new Dictionary<string, string?> { ["AZURE_FUNCTIONS_ENVIRONMENT"] = "Development" });
        var noSecret = await unsigned.SubmitAsync(Spec("https://example.com/hook"));

        Assert.Equal(400, tooLong.Status);
        Assert.Contains("at most 2048 characters", tooLong.Errors["callback_url"][0]);
        Assert.Equal(400, noSecret.Status);
        Assert.Contains("Callbacks__Secret", noSecret.Errors["callback_url"][0]);
    }

    [Fact]
    public async Task A_public_https_url_is_accepted_in_production_and_any_url_in_development()
    {
        await using var production = await JobsTestHost.CreateAsync(settings: Settings(development: false));
        await using var development = await JobsTestHost.CreateAsync(settings: Settings(development: true));

        Assert.Equal(202, (await production.SubmitAsync(Spec("https://hooks.example.com/jobs?x=1"))).Status);
        Assert.Equal(202, (await development.SubmitAsync(Spec("http://127.0.0.1:9/hook"))).Status);
        Assert.Equal(202, (await development.SubmitAsync(Spec("http://10.0.0.5/hook"))).Status);
    }

    [Fact]
    public async Task Outside_development_the_connection_to_a_private_address_is_refused_when_it_is_made()
    {
        // Past the submit's check (e.g. a name that resolved to a public address then): the client itself refuses.
        using var receiver = new CallbackReceiver(200);
        await using var host = await JobsTestHost.CreateAsync(settings: Settings(development: false));
        var callbacks = new JobCallbacks(host.Store, host.Options.Callbacks, TimeProvider.System,
            Microsoft.Extensions.Logging.Abstractions.NullLogger<JobCallbacks>.Instance);
        var job = JobRecord.Created("private-1", DateTimeOffset.UtcNow, JobRecord.FromHttp, 1, callbackUrl: receiver.Url)
            .Cancel(DateTimeOffset.UtcNow)!;
        Assert.True(await host.Store.CreateAsync(job, CancellationToken.None));

        await callbacks.NotifyAsync(job, CancellationToken.None);

        Assert.Empty(receiver.Requests);
        var delivery = (await host.RecordAsync("private-1")).Callback!;
        Assert.Equal(CallbackDelivery.Failed, delivery.State);
        Assert.Equal(1, delivery.Attempts);
        Assert.Contains("public addresses only", delivery.Error);
        Assert.Equal(JobStatus.Cancelled, (await host.RecordAsync("private-1")).Status);
    }
}
