using System.Net.Http.Json;
using System.Text.Json;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Serverless.LocalHost;
using Serverless.ModelStore;

namespace Serverless.Functions.Tests.Infrastructure;

/// <summary>
/// One local host per test class, in-process, on a free port, with its own queue, containers and model cache, over real
/// storage (Azurite by default). The tiny demo model (random weights) is uploaded first. Derived fixtures change the
/// host's settings (e.g. a small maxDequeueCount through <c>AzureFunctionsJobHost__extensions__queues__*</c>, as on Azure).
/// </summary>
public class LocalHostFixture : IAsyncLifetime
{
    private WebApplication? _app;
    private readonly string _cacheDirectory = Path.Combine(Path.GetTempPath(), "serverless-tests", Guid.NewGuid().ToString("N"));

    public string Queue { get; } = Storage.UniqueName("jobs");
    public string JobsContainerName { get; } = Storage.UniqueName("jobs");
    public string CompletionsContainerName { get; } = Storage.UniqueName("completions");
    public string ModelContainerName { get; } = Storage.UniqueName("models");
    public const string ModelPrefix = "demo/";

    public HttpClient Http { get; private set; } = null!;
    public QueueClient JobsQueue { get; private set; } = null!;
    public QueueClient PoisonQueue { get; private set; } = null!;
    public BlobContainerClient Jobs { get; private set; } = null!;
    public BlobContainerClient Completions { get; private set; } = null!;

    protected virtual string ConnectionString => Storage.ConnectionString;

    /// <summary>Extra host settings as <c>key=value</c> (configuration keys, ':'-separated).</summary>
    protected virtual IEnumerable<string> Settings => [];

    /// <summary>The model folder uploaded for the host (the demo model unless a fixture composes another).</summary>
    protected virtual string ModelDirectory => Paths.DemoModelDirectory;

    /// <summary>Where the host looks for the model; a prefix with nothing under it gives "model missing".</summary>
    protected virtual string HostModelPrefix => ModelPrefix;

    public virtual async Task InitializeAsync()
    {
        await Storage.EnsureReachableAsync(ConnectionString);
        var blobs = new BlobServiceClient(ConnectionString);
        var queues = new QueueServiceClient(ConnectionString);
        JobsQueue = queues.GetQueueClient(Queue);
        PoisonQueue = queues.GetQueueClient(Queue + "-poison");
        Jobs = blobs.GetBlobContainerClient(JobsContainerName);
        Completions = blobs.GetBlobContainerClient(CompletionsContainerName);
        await JobsQueue.CreateIfNotExistsAsync();
        await PoisonQueue.CreateIfNotExistsAsync();

        var model = ModelDirectory;
        Assert.True(Directory.Exists(model), $"The demo model folder {model} is missing (it is committed with the repository).");
        await ModelUploader.UploadAsync(model, blobs.GetBlobContainerClient(ModelContainerName), ModelPrefix);

        await StartHostAsync();
    }

    /// <summary>Starts (or restarts) the host with this fixture's settings.</summary>
    protected async Task StartHostAsync()
    {
        string[] args =
        [
            "--urls=http://127.0.0.1:0",
            $"--AzureWebJobsStorage={ConnectionString}",
            $"--PromptJobsQueue={Queue}",
            $"--JobsContainer={JobsContainerName}",
            $"--CompletionsContainer={CompletionsContainerName}",
            $"--Model:Container={ModelContainerName}",
            $"--Model:Prefix={HostModelPrefix}",
            $"--Model:CacheDirectory={_cacheDirectory}",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:Host.Startup=Warning",
            .. Settings.Select(s => "--" + s),
        ];
        _app = LocalHostApp.Create(args);
        await _app.StartAsync();
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        Http = new HttpClient { BaseAddress = new Uri(address.TrimEnd('/') + "/"), Timeout = TimeSpan.FromSeconds(60) };
    }

    public IServiceProvider Services => _app!.Services;

    /// <summary>POST /api/jobs; asserts 202 and returns the job id.</summary>
    public async Task<string> SubmitAsync(object spec)
    {
        using var response = await Http.PostAsJsonAsync("api/jobs", spec);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.Accepted, $"submit answered {(int)response.StatusCode}: {body}");
        using var document = JsonDocument.Parse(body);
        return document.RootElement.GetProperty("id").GetString()!;
    }

    public Task<JsonElement> WaitAsync(string id, TimeSpan? timeout = null) =>
        JobWaiter.WaitAsync(Http, id, timeout ?? TimeSpan.FromSeconds(60));

    public virtual async Task DisposeAsync()
    {
        Http?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        try
        {
            // Leave the shared Azurite as we found it.
            var blobs = new BlobServiceClient(ConnectionString);
            await JobsQueue.DeleteIfExistsAsync();
            await PoisonQueue.DeleteIfExistsAsync();
            await Jobs.DeleteIfExistsAsync();
            await Completions.DeleteIfExistsAsync();
            await blobs.GetBlobContainerClient(ModelContainerName).DeleteIfExistsAsync();
        }
        catch (Exception)
        {
            // Storage may already be gone (the outage fixture stops its own Azurite first).
        }
        try { Directory.Delete(_cacheDirectory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
