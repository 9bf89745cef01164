using Azure.Storage.Blobs;

namespace Serverless.ModelStore;

/// <summary>
/// Builds the model container client and <see cref="ModelStoreOptions"/> from app settings named as in
/// <c>local.settings.sample.json</c>: <c>Model__Connection</c> (the name of a connection setting, default
/// <c>AzureWebJobsStorage</c>), <c>Model__Container</c>, <c>Model__Prefix</c>, <c>Model__CacheDirectory</c>,
/// <c>Model__UseQuantized</c>, <c>Model__RefreshMinutes</c>. The connection itself is a <see cref="StorageConnection"/>.
/// </summary>
/// <remarks>
/// Settings are read through a lookup function so any source works (IConfiguration: <c>key =&gt; config[key]</c>,
/// environment variables, a dictionary). Both separators are tried: <c>Model:Container</c> (IConfiguration) and
/// <c>Model__Container</c> (environment).
/// </remarks>
public static class ModelStorage
{
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

    /// <summary>The container client for the model (with the model transfer's retries), from the connection named by
    /// <c>Model__Connection</c>; without that setting, from <paramref name="connection"/> (the host's own, built once), else
    /// <see cref="StorageConnection.DefaultName"/>.</summary>
    public static BlobContainerClient CreateContainerClient(Func<string, string?> settings, StorageConnection? connection = null)
    {
        var options = ReadOptions(settings);
        connection = Get(settings, "Model", "Connection") is { Length: > 0 } name ? StorageConnection.FromSettings(name, settings)
            : connection ?? StorageConnection.FromSettings(StorageConnection.DefaultName, settings);
        return connection.CreateBlobServiceClient(StorageRetry.ModelTransfer).GetBlobContainerClient(options.Container);
    }

    private static string? Get(Func<string, string?> settings, string section, string key)
    {
        var value = settings($"{section}:{key}");
        return string.IsNullOrEmpty(value) ? settings($"{section}__{key}") : value;
    }
}
