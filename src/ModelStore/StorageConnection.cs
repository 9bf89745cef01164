using Azure.Core;
using Azure.Identity;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;

namespace Serverless.ModelStore;

/// <summary>
/// A storage connection named the way the Functions host names them, and the one place that builds clients from it:
/// the setting <c>&lt;name&gt;</c> holds a connection string (<c>UseDevelopmentStorage=true</c> works), or identity-based
/// settings name the endpoints — <c>&lt;name&gt;__blobServiceUri</c> (or <c>__serviceUri</c>), <c>&lt;name&gt;__queueServiceUri</c>,
/// or <c>&lt;name&gt;__accountName</c> for both — with <c>&lt;name&gt;__credential=managedidentity</c> (+ optional
/// <c>&lt;name&gt;__clientId</c>) for a managed identity, otherwise <see cref="DefaultAzureCredential"/>. The hosts build the
/// job connection once (<c>AzureWebJobsStorage</c>, the one the queue triggers name), the model provider its own
/// (<c>Model__Connection</c>), and the CLI one from <c>--connection</c> (<see cref="FromArgument"/>).
/// </summary>
/// <remarks>
/// Settings are read through a lookup so any source works (IConfiguration, environment variables, a dictionary); both
/// separators are tried: <c>name:key</c> (IConfiguration) and <c>name__key</c> (environment). Each endpoint is resolved
/// when its client is built, so a blob-only connection (a model account) needs no queue settings.
/// </remarks>
public sealed class StorageConnection
{
    /// <summary>The connection of the queue triggers, the job store and the model unless <c>Model__Connection</c> names another.</summary>
    public const string DefaultName = "AzureWebJobsStorage";

    private readonly Func<string, string?> _settings;

    private StorageConnection(string name, Func<string, string?> settings)
    {
        Name = name;
        _settings = settings;
    }

    public string Name { get; }

    /// <summary>The connection <paramref name="name"/> in app settings. Nothing is read until a client is built.</summary>
    public static StorageConnection FromSettings(string name, Func<string, string?> settings)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(settings);
        return new StorageConnection(name, settings);
    }

    /// <summary>A connection given on a command line: a connection string, or an http(s) service URI (blob or queue,
    /// whichever client is built from it), which means identity-based access with <see cref="DefaultAzureCredential"/>.</summary>
    public static StorageConnection FromArgument(string connectionStringOrServiceUri)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionStringOrServiceUri);
        const string name = "cli";
        var isUri = Uri.TryCreate(connectionStringOrServiceUri, UriKind.Absolute, out var uri) && uri.Scheme is "https" or "http";
        var settings = isUri
            ? new Dictionary<string, string?> { [name + "__blobServiceUri"] = connectionStringOrServiceUri, [name + "__queueServiceUri"] = connectionStringOrServiceUri }
            : new Dictionary<string, string?> { [name] = connectionStringOrServiceUri };
        return new StorageConnection(name, key => settings.GetValueOrDefault(key));
    }

    public BlobServiceClient CreateBlobServiceClient(StorageRetry retry)
    {
        ArgumentNullException.ThrowIfNull(retry);
        var options = retry.BlobOptions();
        if (ConnectionString is { } connectionString) return new BlobServiceClient(connectionString, options);
        var uri = Get("blobServiceUri") ?? Get("serviceUri")
            ?? (Get("accountName") is { } account ? $"https://{account}.blob.core.windows.net" : throw Missing("blobServiceUri"));
        return new BlobServiceClient(new Uri(uri), CreateCredential(), options);
    }

    /// <summary>A queue service client whose messages are plain text: host.json sets the queue extension's messageEncoding
    /// to "none", so what is sent is what the trigger (and anyone looking at the queue in Storage Explorer) sees.</summary>
    public QueueServiceClient CreateQueueServiceClient(StorageRetry retry)
    {
        ArgumentNullException.ThrowIfNull(retry);
        var options = new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None };
        retry.ApplyTo(options.Retry);
        if (ConnectionString is { } connectionString) return new QueueServiceClient(connectionString, options);
        var uri = Get("queueServiceUri")
            ?? (Get("accountName") is { } account ? $"https://{account}.queue.core.windows.net" : throw Missing("queueServiceUri"));
        return new QueueServiceClient(new Uri(uri), CreateCredential(), options);
    }

    /// <summary>
    /// The token credential of an identity-based connection: <c>&lt;name&gt;__credential=managedidentity</c> (+ optional
    /// <c>&lt;name&gt;__clientId</c>) selects a managed identity, as the Functions host does; otherwise
    /// <see cref="DefaultAzureCredential"/> (developer sign-in, workload identity, …).
    /// </summary>
    public TokenCredential CreateCredential()
    {
        var clientId = Get("clientId");
        if (string.Equals(Get("credential"), "managedidentity", StringComparison.OrdinalIgnoreCase))
            return new ManagedIdentityCredential(clientId is null ? ManagedIdentityId.SystemAssigned : ManagedIdentityId.FromUserAssignedClientId(clientId));
        var options = new DefaultAzureCredentialOptions();
        if (clientId is not null) options.ManagedIdentityClientId = clientId;
        return new DefaultAzureCredential(options);
    }

    private string? ConnectionString =>
        _settings(Name) is { } s && !string.IsNullOrWhiteSpace(s) ? s
        : _settings("ConnectionStrings:" + Name) is { } c && !string.IsNullOrWhiteSpace(c) ? c
        : null;

    private string? Get(string key)
    {
        var value = _settings($"{Name}:{key}");
        if (string.IsNullOrWhiteSpace(value)) value = _settings($"{Name}__{key}");
        return string.IsNullOrWhiteSpace(value) ? null : value;
    }

    private InvalidOperationException Missing(string uriSetting) => new(
        $"No storage connection '{Name}': set '{Name}' to a connection string (UseDevelopmentStorage=true for Azurite), " +
        $"or '{Name}__{uriSetting}' (with '{Name}__credential=managedidentity' and optionally '{Name}__clientId') for an identity-based connection.");
}
