using System.Net;
using System.Text.Json;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;

namespace Serverless.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A running host as the suite sees it: a base URL, a function key (or none), and the storage account with the names
/// of its job queue and containers. Derived fixtures start a host (and stop it) or point at one already running; a
/// host that is not available here sets <see cref="SkipReason"/> instead, and every test of it is skipped saying why.
/// </summary>
public abstract class HostFixture : IAsyncLifetime
{
    /// <summary>Short name for reports: <c>local</c>, <c>functions-host</c>, <c>func-start</c>, <c>running</c>.</summary>
    public abstract string Name { get; }

    public string? SkipReason { get; private set; }

    public Uri BaseUrl { get; protected set; } = null!;

    /// <summary>The function key the host requires; null when it enforces none (Core Tools locally).</summary>
    public string? FunctionKey { get; protected set; }

    /// <summary>The key of the OpenAI-compatible routes (<c>OpenAi__ApiKey</c>); null when the suite does not know it.</summary>
    public string? OpenAiKey { get; protected set; }

    /// <summary>The model id the <c>/v1</c> routes serve (the model's Blob prefix without its slash).</summary>
    public string OpenAiModel { get; protected set; } = "demo";

    /// <summary>The host's storage account (for queue drops and outputs); null when not given (a running host).</summary>
    public string? StorageConnection { get; protected set; }

    /// <summary>The host's <c>Callbacks__Secret</c> where the suite knows it and the host can reach a listener on this
    /// machine (the hosts it starts, in Development); null otherwise.</summary>
    public string? CallbackSecret { get; protected set; }
    public string QueueName { get; protected set; } = null!;
    public string JobsContainerName { get; protected set; } = null!;
    public string CompletionsContainerName { get; protected set; } = null!;

    /// <summary>The host's <c>BatchQueue</c> and <c>BatchFilesContainer</c> (null for a running host the suite did not
    /// start), <c>Batches__ChunkSize</c> and <c>Batches__MaxFileBytes</c>.</summary>
    public string? BatchQueueName { get; protected set; }
    public string? BatchFilesContainerName { get; protected set; }
    public int BatchChunkSize { get; protected set; } = 100;
    public long MaxBatchFileBytes { get; protected set; } = 200L * 1024 * 1024;

    /// <summary>The host's <c>Jobs__MaxPromptsPerJob</c> and <c>Jobs__MaxRequestBodyBytes</c>.</summary>
    public int MaxPromptsPerJob { get; protected set; } = 64;
    public int MaxRequestBodyBytes { get; protected set; } = 256 * 1024;

    /// <summary>The host's <c>Completions__MaxPrompts</c>.</summary>
    public int MaxCompletionPrompts { get; protected set; } = 4;

    /// <summary>Sends the function key (when there is one) as <c>x-functions-key</c>.</summary>
    public HttpClient Http { get; private set; } = null!;

    /// <summary>Sends no key.</summary>
    public HttpClient Anonymous { get; private set; } = null!;

    public QueueClient Queue { get; private set; } = null!;
    public QueueClient PoisonQueue { get; private set; } = null!;
    public BlobContainerClient Completions { get; private set; } = null!;

    /// <summary>Null when the host can run here; otherwise why not (the tests are then skipped).</summary>
    protected abstract string? Unavailable();

    /// <summary>Starts the host, or finds the running one; sets the properties above.</summary>
    protected abstract Task StartAsync();

    protected virtual Task StopAsync() => Task.CompletedTask;

    public async Task InitializeAsync()
    {
        SkipReason = Unavailable();
        if (SkipReason is not null)
        {
            HostsReport.Skipped(Name, SkipReason);
            return;
        }
        try
        {
            await StartAsync();
        }
        catch
        {
            await StopAsync();
            throw;
        }
        Anonymous = new HttpClient { BaseAddress = BaseUrl, Timeout = TimeSpan.FromSeconds(100) };
        Http = new HttpClient { BaseAddress = BaseUrl, Timeout = TimeSpan.FromSeconds(100) };
        if (FunctionKey is not null) Http.DefaultRequestHeaders.Add("x-functions-key", FunctionKey);
        if (StorageConnection is not null)
        {
            var queues = new QueueServiceClient(StorageConnection);
            Queue = queues.GetQueueClient(QueueName);
            PoisonQueue = queues.GetQueueClient(QueueName + "-poison");
            Completions = new BlobServiceClient(StorageConnection).GetBlobContainerClient(CompletionsContainerName);
        }
        HostsReport.Ran(Name);
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        Anonymous?.Dispose();
        if (SkipReason is null) await StopAsync();
    }

    /// <summary>POST /api/jobs; asserts 202 and returns the job id.</summary>
    public async Task<string> SubmitAsync(object spec)
    {
        using var response = await Http.PostAsync("api/jobs", Json(spec));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"submit answered {(int)response.StatusCode}: {body}{LogTail()}");
        using var document = JsonDocument.Parse(body);
        return document.RootElement.GetProperty("id").GetString()!;
    }

    /// <summary>Polls GET /api/jobs/{id} until succeeded or failed. A 404 means "no record yet" (a queue drop gets
    /// its record when the worker picks it up); still 404 at the timeout fails with "no record". A 503 problem with
    /// Retry-After (storage too slow right now, e.g. on a loaded machine) is polled again after that delay, as a client
    /// should; any other answer but 200 fails at once.</summary>
    public async Task<JsonElement> WaitAsync(string id, TimeSpan? timeout = null, TimeSpan? pollInterval = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(90);
        using var cts = new CancellationTokenSource(limit);
        var last = "no record (404)";
        try
        {
            while (true)
            {
                using var response = await Http.GetAsync($"api/jobs/{id}", cts.Token);
                var body = await response.Content.ReadAsStringAsync(cts.Token);
                if (response.StatusCode == HttpStatusCode.ServiceUnavailable && response.Headers.RetryAfter?.Delta is { } retryAfter &&
                    response.Content.Headers.ContentType?.MediaType == "application/problem+json")
                {
                    last = $"503, Retry-After {retryAfter.TotalSeconds} s: {body}";
                    await Task.Delay(retryAfter, cts.Token);
                    continue;
                }
                if (response.StatusCode != HttpStatusCode.NotFound)
                {
                    Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET api/jobs/{id} answered {(int)response.StatusCode}: {body}{LogTail()}");
                    last = body;
                    using var document = JsonDocument.Parse(body);
                    if (document.RootElement.GetProperty("status").GetString() is "succeeded" or "failed") return document.RootElement.Clone();
                }
                await Task.Delay(pollInterval ?? TimeSpan.FromMilliseconds(250), cts.Token);
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"Job {id} did not finish within {limit} on the {Name} host. Last answer: {last}");
        }
    }

    /// <summary>The end of the host's log, for failure messages; empty when this fixture has none.</summary>
    protected virtual string LogTail() => "";

    /// <summary><see cref="LogTail"/>, for the tests' own failure messages.</summary>
    public string HostLogTail() => LogTail();

    public static StringContent Json(object value) =>
        new(JsonSerializer.Serialize(value), System.Text.Encoding.UTF8, "application/json");
}
