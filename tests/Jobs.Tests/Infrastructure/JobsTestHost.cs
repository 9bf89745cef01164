using System.Text;
using System.Text.Json;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Jobs.Storage;
using Serverless.ModelStore;

namespace Serverless.Jobs.Tests.Infrastructure;

/// <summary>
/// The job pipeline as a host wires it (<see cref="JobsServiceCollectionExtensions.AddPromptJobs"/>) over real storage,
/// with its own queue and containers so tests never see each other's messages or blobs. Disposing deletes them.
/// </summary>
internal sealed class JobsTestHost : IAsyncDisposable
{
    public const string ModelPrefix = "tiny/";
    private readonly ServiceProvider _services;

    public IServiceProvider Services => _services;
    private readonly string _cacheDirectory;

    private JobsTestHost(ServiceProvider services, IConfiguration configuration, string names, string cacheDirectory)
    {
        _services = services;
        _cacheDirectory = cacheDirectory;
        Configuration = configuration;
        Options = services.GetRequiredService<PromptJobsOptions>();
        Api = services.GetRequiredService<JobsApi>();
        Worker = services.GetRequiredService<JobWorker>();
        Poison = services.GetRequiredService<PoisonJobHandler>();
        Store = services.GetRequiredService<JobStore>();
        Outputs = services.GetRequiredService<JobOutputStore>();
        Inputs = services.GetRequiredService<JobInputStore>();
        ContentIndex = services.GetRequiredService<MessageContentIndex>();
        var queueOptions = new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None };
        Queue = new QueueClient(TestStorage.ConnectionString, Options.QueueName, queueOptions);
        PoisonQueue = new QueueClient(TestStorage.ConnectionString, Options.PoisonQueueName, queueOptions);
        var blobs = new BlobServiceClient(TestStorage.ConnectionString);
        Jobs = blobs.GetBlobContainerClient(Options.JobsContainer);
        Completions = blobs.GetBlobContainerClient(Options.CompletionsContainer);
        Models = blobs.GetBlobContainerClient(names + "-models");
    }

    public IConfiguration Configuration { get; }
    public PromptJobsOptions Options { get; }
    public JobsApi Api { get; }
    public JobWorker Worker { get; }
    public PoisonJobHandler Poison { get; }
    internal JobStore Store { get; }
    internal JobOutputStore Outputs { get; }
    internal JobInputStore Inputs { get; }
    internal MessageContentIndex ContentIndex { get; }
    public QueueClient Queue { get; }
    public QueueClient PoisonQueue { get; }
    public BlobContainerClient Jobs { get; }
    public BlobContainerClient Completions { get; }
    public BlobContainerClient Models { get; }

    /// <param name="withModel">Upload the tiny model first; without it the model container does not exist.</param>
    /// <param name="generationConfig">With <paramref name="withModel"/>: the tiny model's generation_config.json instead of its own.</param>
    /// <param name="modelDirectory">With <paramref name="withModel"/>: another model folder than the tiny model (the joinable one).</param>
    public static async Task<JobsTestHost> CreateAsync(bool withModel = false, IDictionary<string, string?>? settings = null, Action<IServiceCollection>? services = null,
        string? generationConfig = null, string? modelDirectory = null)
    {
        await TestStorage.EnsureReachableAsync();
        var names = "jt" + Guid.NewGuid().ToString("N")[..12];
        var cache = Path.Combine(Path.GetTempPath(), "jobs-tests", names);
        var values = new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage"] = TestStorage.ConnectionString,
            ["PromptJobsQueue"] = names,
            ["JobsContainer"] = names + "-jobs",
            ["CompletionsContainer"] = names + "-completions",
            ["Model:Connection"] = "AzureWebJobsStorage",
            ["Model:Container"] = names + "-models",
            ["Model:Prefix"] = ModelPrefix,
            ["Model:CacheDirectory"] = cache,
            ["Inference:IntraOpThreads"] = "1",
            ["Jobs:ModelRetryAfterSeconds"] = "0",
        };
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>()) values[k] = v;
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var collection = new ServiceCollection();
        services?.Invoke(collection);
        var provider = collection.AddPromptJobs(configuration).BuildServiceProvider();
        var host = new JobsTestHost(provider, configuration, names, cache);
        await host.Queue.CreateIfNotExistsAsync();
        if (withModel) await ModelUploader.UploadAsync(generationConfig is null ? modelDirectory ?? RepoPaths.TinyModel : TinyModelWith(generationConfig, cache), host.Models, ModelPrefix);
        return host;
    }

    private static string TinyModelWith(string generationConfig, string cache)
    {
        var directory = cache + "-source";
        Directory.CreateDirectory(directory);
        foreach (var file in Directory.GetFiles(RepoPaths.TinyModel)) File.Copy(file, Path.Combine(directory, Path.GetFileName(file)), overwrite: true);
        File.WriteAllText(Path.Combine(directory, "generation_config.json"), generationConfig);
        return directory;
    }

    public static HttpRequest JsonRequest(string body) => Request(Encoding.UTF8.GetBytes(body));

    public static HttpRequest Request(byte[] body, bool sendContentLength = true)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "POST";
        context.Request.Path = "/api/jobs";
        context.Request.ContentType = "application/json";
        context.Request.Body = new MemoryStream(body);
        if (sendContentLength) context.Request.ContentLength = body.Length;
        return context.Request;
    }

    /// <summary>Runs an action result the way a host does and captures status, headers and body.</summary>
    public static async Task<HttpReply> ExecuteAsync(IActionResult result)
    {
        var context = new DefaultHttpContext();
        var body = new MemoryStream();
        context.Response.Body = body;
        await result.ExecuteResultAsync(new ActionContext(context, new RouteData(), new Microsoft.AspNetCore.Mvc.Abstractions.ActionDescriptor()));
        var text = Encoding.UTF8.GetString(body.ToArray());
        return new HttpReply(context.Response.StatusCode, context.Response.ContentType, context.Response.Headers, JsonDocument.Parse(text).RootElement.Clone());
    }

    public async Task<HttpReply> SubmitAsync(string body) => await ExecuteAsync(await Api.SubmitAsync(JsonRequest(body), CancellationToken.None));

    /// <summary>
    /// Submits as a client following the API's contract does: a 503 (storage too slow for the request's budget, e.g.
    /// while other test runs load the shared Azurite) is retried after its Retry-After, a few times. Returns the job id
    /// of the 202 and fails with the last answer otherwise. For tests about what happens after a submit.
    /// </summary>
    public async Task<string> SubmitAcceptedAsync(string body)
    {
        var reply = await SubmitAsync(body);
        for (var attempt = 1; reply.Status == 503 && attempt < 5; attempt++)
        {
            var retryAfter = reply.Headers.RetryAfter is [{ } seconds] && int.TryParse(seconds, out var s) ? Math.Min(s, 5) : 1;
            await Task.Delay(TimeSpan.FromSeconds(retryAfter));
            reply = await SubmitAsync(body);
        }
        Assert.True(reply.Status == 202, $"submit answered {reply.Status}: {reply.Body}");
        return reply.Body.GetProperty("id").GetString()!;
    }

    public async Task<HttpReply> GetAsync(string id) => await ExecuteAsync(await Api.GetAsync(new DefaultHttpContext().Request, id, CancellationToken.None));

    /// <summary>Every message in the queue now (peek does not hide them).</summary>
    public async Task<PeekedMessage[]> PeekAllAsync() => (await Queue.PeekMessagesAsync(32)).Value;

    /// <summary>Sends text as a hand-dropped message and receives it, as the trigger would.</summary>
    public async Task<QueueMessage> DropAndReceiveAsync(string text)
    {
        await Queue.SendMessageAsync(text);
        return await ReceiveAsync();
    }

    public async Task<QueueMessage> ReceiveAsync()
    {
        // Held invisible for 10 minutes, as the trigger does, so a slow test never receives the same message twice.
        var received = (await Queue.ReceiveMessagesAsync(1, TimeSpan.FromMinutes(10))).Value;
        Assert.Single(received);
        return received[0];
    }

    /// <summary>Receives the next message and runs the worker on it, as the queue trigger would.</summary>
    public async Task<QueueMessage> ProcessNextAsync()
    {
        var message = await ReceiveAsync();
        await Worker.ProcessAsync(message.MessageText, message.MessageId, message.DequeueCount, CancellationToken.None);
        return message;
    }

    internal async Task<JobRecord> RecordAsync(string id) =>
        (await Store.GetAsync(id, CancellationToken.None))?.Record ?? throw new Xunit.Sdk.XunitException($"No record for job {id}.");

    public async ValueTask DisposeAsync()
    {
        await _services.DisposeAsync();
        foreach (var action in new Func<Task>[]
                 {
                     () => Queue.DeleteIfExistsAsync(), () => PoisonQueue.DeleteIfExistsAsync(), () => Jobs.DeleteIfExistsAsync(),
                     () => Completions.DeleteIfExistsAsync(), () => Models.DeleteIfExistsAsync(),
                 })
        {
            try { await action(); } catch { /* best effort clean-up */ }
        }
        try { Directory.Delete(_cacheDirectory, recursive: true); } catch (DirectoryNotFoundException) { }
        try { Directory.Delete(_cacheDirectory + "-source", recursive: true); } catch (DirectoryNotFoundException) { }
    }
}

internal sealed record HttpReply(int Status, string? ContentType, IHeaderDictionary Headers, JsonElement Body)
{
    public IReadOnlyDictionary<string, string[]> Errors =>
        Body.TryGetProperty("errors", out var e)
            ? e.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(x => x.GetString()!).ToArray())
            : new Dictionary<string, string[]>();
}
