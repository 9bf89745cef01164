using Azure.Storage.Blobs;
using Serverless.Inference.Model;

namespace Serverless.ModelStore;

/// <summary>Shortcuts for the flan-T5 engine's model.</summary>
public static class ModelProvider
{
    /// <summary>A provider that loads <see cref="T5Model"/> from the cache folder.</summary>
    public static ModelProvider<T5Model> ForT5(
        BlobContainerClient container, ModelStoreOptions options, ModelOptions? modelOptions = null,
        IProgress<ModelTransferProgress>? progress = null)
    {
        modelOptions ??= new ModelOptions { UseQuantized = options.UseQuantized };
        return new ModelProvider<T5Model>(container, options, (directory, _) => T5Model.Load(directory, modelOptions), progress);
    }

    /// <summary>
    /// A provider configured from app settings (<c>Model__*</c>, <c>Inference__IntraOpThreads</c>, <c>Inference__MaxBatchRows</c>,
    /// <c>Inference__MaxNewTokensCeiling</c>); see <see cref="ModelStorage.CreateContainerClient"/> for the connection
    /// (<paramref name="connection"/>: the host's, used unless <c>Model__Connection</c> names another).
    /// </summary>
    public static ModelProvider<T5Model> ForT5(Func<string, string?> settings, StorageConnection? connection = null)
    {
        var options = ModelStorage.ReadOptions(settings);
        var modelOptions = new ModelOptions { UseQuantized = options.UseQuantized };
        if (Setting(settings, "Inference", "IntraOpThreads") is { Length: > 0 } threads)
            modelOptions = modelOptions with { IntraOpThreads = Int("Inference__IntraOpThreads", threads, 0, "0 (one thread per core) or a positive number of threads") };
        if (Setting(settings, "Inference", "MaxBatchRows") is { Length: > 0 } rows)
            modelOptions = modelOptions with { MaxBatchRows = Int("Inference__MaxBatchRows", rows, 1, "a whole number of decoder rows, at least 1") };
        if (Setting(settings, "Inference", "MaxNewTokensCeiling") is { Length: > 0 } ceiling)
            modelOptions = modelOptions with { MaxNewTokensCeiling = Int("Inference__MaxNewTokensCeiling", ceiling, 1, "a whole number of tokens, at least 1") };
        return ForT5(ModelStorage.CreateContainerClient(settings, connection), options, modelOptions);
    }

    private static int Int(string name, string text, int min, string accepted) =>
        int.TryParse(text.Trim(), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var value) && value >= min
            ? value
            : throw new FormatException($"Setting {name} must be {accepted}, not '{text}'.");

    private static string? Setting(Func<string, string?> settings, string section, string key)
    {
        var value = settings($"{section}:{key}");
        return string.IsNullOrEmpty(value) ? settings($"{section}__{key}") : value;
    }
}
