using Azure.Core;
using Azure.Identity;
using Azure.Storage.Blobs;

namespace Serverless.ModelStore;

/// <summary>
/// Builds the model container client and <see cref="ModelStoreOptions"/> from app settings named as in
/// <c>local.settings.sample.json</c>: <c>Model__Connection</c> (the name of a connection setting, default
/// <c>AzureWebJobsStorage</c>), <c>Model__Container</c>, <c>Model__Prefix</c>, <c>Model__CacheDirectory</c>,
/// <c>Model__UseQuantized</c>, <c>Model__RefreshMinutes</c>.
/// </summary>
/// <remarks>
/// Settings are read through a lookup function so any source works (IConfiguration: <c>key =&gt; config[key]</c>,
/// environment variables, a dictionary). Both separators are tried: <c>Model:Container</c> (IConfiguration) and
/// <c>Model__Container</c> (environment).
/// </remarks>
public static class ModelStorage
{
    public const string DefaultConnectionName = "AzureWebJobsStorage";

    /// <summary>Client options with bounded retries: a storage failure surfaces after a few tries instead of hanging a request.</summary>
    public static BlobClientOptions CreateClientOptions(int maxRetries = 3)
    {
        var options = new BlobClientOptions();
        options.Retry.MaxRetries = maxRetries;
        options.Retry.Mode = RetryMode.Exponential;
        options.Retry.Delay = TimeSpan.FromMilliseconds(500);
        options.Retry.MaxDelay = TimeSpan.FromSeconds(8);
        options.Retry.NetworkTimeout = TimeSpan.FromSeconds(100);
        return options;
    }

    /// <summary>Reads <see cref="ModelStoreOptions"/> from the <c>Model__*</c> settings; unset settings keep their defaults.</summary>
    public static ModelStoreOptions ReadOptions(Func<string, string?> settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var options = new ModelStoreOptions();
        if (Get(settings, "Model", "Container") is { Length: > 0 } container)
            options = options with { Container = ModelStoreNames.ContainerNameError(container) is { } error ? throw new FormatException($"Setting Model__Container: {error}") : container };
        if (Get(settings, "Model", "Prefix") is { Length: > 0 } prefix)
            options = options with { Prefix = ModelStoreNames.PrefixError(prefix) is { } error ? throw new FormatException($"Setting Model__Prefix: {error}") : prefix };
        if (Get(settings, "Model", "CacheDirectory") is { Length: > 0 } cache) options = options with { CacheDirectory = cache };
        if (Get(settings, "Model", "UseQuantized") is { Length: > 0 } q)
            options = options with { UseQuantized = bool.TryParse(q, out var b) ? b : throw new FormatException($"Model__UseQuantized must be true or false, not '{q}'.") };
        if (Get(settings, "Model", "RefreshMinutes") is { Length: > 0 } r)
        {
            if (!double.TryParse(r, System.Globalization.CultureInfo.InvariantCulture, out var minutes) || minutes < 0)
                throw new FormatException($"Model__RefreshMinutes must be a number of minutes (0 = off), not '{r}'.");
            options = options with { RefreshInterval = minutes == 0 ? null : TimeSpan.FromMinutes(minutes) };
        }
        return options;
    }

    /// <summary>The container client for the model, from the connection named by <c>Model__Connection</c>.</summary>
    public static BlobContainerClient CreateContainerClient(Func<string, string?> settings, BlobClientOptions? clientOptions = null)
    {
        var options = ReadOptions(settings);
        var connectionName = Get(settings, "Model", "Connection") is { Length: > 0 } n ? n : DefaultConnectionName;
        return CreateServiceClient(connectionName, settings, clientOptions).GetBlobContainerClient(options.Container);
    }

    /// <summary>
    /// A service client for a Functions-style connection: the setting <paramref name="connectionName"/> holds a
    /// connection string (<c>UseDevelopmentStorage=true</c> works), or <c>&lt;name&gt;__blobServiceUri</c> /
    /// <c>&lt;name&gt;__serviceUri</c> / <c>&lt;name&gt;__accountName</c> name the endpoint and a token credential is used:
    /// <c>&lt;name&gt;__credential=managedidentity</c> (+ optional <c>&lt;name&gt;__clientId</c>) selects a managed identity,
    /// otherwise <see cref="DefaultAzureCredential"/>.
    /// </summary>
    public static BlobServiceClient CreateServiceClient(string connectionName, Func<string, string?> settings, BlobClientOptions? clientOptions = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(connectionName);
        ArgumentNullException.ThrowIfNull(settings);
        clientOptions ??= CreateClientOptions();

        var connectionString = settings(connectionName) ?? settings("ConnectionStrings:" + connectionName);
        if (!string.IsNullOrWhiteSpace(connectionString)) return new BlobServiceClient(connectionString, clientOptions);

        var uri = Get(settings, connectionName, "blobServiceUri") ?? Get(settings, connectionName, "serviceUri");
        if (string.IsNullOrWhiteSpace(uri) && Get(settings, connectionName, "accountName") is { Length: > 0 } account)
            uri = $"https://{account}.blob.core.windows.net";
        if (string.IsNullOrWhiteSpace(uri))
            throw new InvalidOperationException(
                $"No storage connection '{connectionName}': set '{connectionName}' to a connection string (UseDevelopmentStorage=true for Azurite), " +
                $"or '{connectionName}__blobServiceUri' (with '{connectionName}__credential=managedidentity' and optionally '{connectionName}__clientId').");

        return new BlobServiceClient(new Uri(uri), CreateCredential(connectionName, settings), clientOptions);
    }

    /// <summary>
    /// The token credential of an identity-based connection: <c>&lt;name&gt;__credential=managedidentity</c> (+ optional
    /// <c>&lt;name&gt;__clientId</c>) selects a managed identity, as the Functions host does; otherwise
    /// <see cref="DefaultAzureCredential"/> (developer sign-in, workload identity, …).
    /// </summary>
    public static TokenCredential CreateCredential(string connectionName, Func<string, string?> settings)
    {
        var clientId = Get(settings, connectionName, "clientId");
        var credential = Get(settings, connectionName, "credential");
        if (string.Equals(credential, "managedidentity", StringComparison.OrdinalIgnoreCase))
            return new ManagedIdentityCredential(string.IsNullOrEmpty(clientId)
                ? ManagedIdentityId.SystemAssigned
                : ManagedIdentityId.FromUserAssignedClientId(clientId));
        var options = new DefaultAzureCredentialOptions();
        if (!string.IsNullOrEmpty(clientId)) options.ManagedIdentityClientId = clientId;
        return new DefaultAzureCredential(options);
    }

    private static string? Get(Func<string, string?> settings, string section, string key)
    {
        var value = settings($"{section}:{key}");
        return string.IsNullOrEmpty(value) ? settings($"{section}__{key}") : value;
    }
}
