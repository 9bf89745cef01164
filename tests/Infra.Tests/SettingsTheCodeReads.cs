using Microsoft.Extensions.Configuration;
using Serverless.Jobs;
using Serverless.ModelStore;

namespace Serverless.Infra.Tests;

/// <summary>
/// The app settings the code reads, found by running its settings binding (<see cref="JobsServiceCollectionExtensions.ReadOptions"/>
/// and <see cref="ModelProvider.ForT5(Func{string, string?}, StorageConnection?)"/>, which reads the
/// <c>Model__*</c> and <c>Inference__*</c> settings) over a configuration that records every key asked for. Nothing is
/// listed by hand: a setting added to the binding shows up here.
/// </summary>
internal static class SettingsTheCodeReads
{
    /// <summary>The connection every binding defaults to; its identity-based variants (<c>__blobServiceUri</c>, …) are one setting.</summary>
    private const string Connection = "AzureWebJobsStorage";

    public static IReadOnlySet<string> Names()
    {
        var source = new RecordingSource(new Dictionary<string, string?> { [Connection] = "UseDevelopmentStorage=true" });
        var configuration = new ConfigurationBuilder().Add(source).Build();

        JobsServiceCollectionExtensions.ReadOptions(configuration);
        JobsServiceCollectionExtensions.ReadOpenAiOptions(configuration);
        Serverless.Jobs.Batches.BatchesServiceCollectionExtensions.ReadOptions(configuration);
        using (ModelProvider.ForT5(key => configuration[key])) { }

        return source.Asked
            .Where(key => !key.StartsWith("ConnectionStrings:", StringComparison.Ordinal))
            // Both separators are tried (Model:Prefix from IConfiguration, Model__Prefix from the environment): one setting.
            .Select(key => key.Replace(":", "__", StringComparison.Ordinal))
            .Where(name => !name.StartsWith(Connection + "__", StringComparison.Ordinal))
            .ToHashSet(StringComparer.Ordinal);
    }

    private sealed class RecordingSource(IDictionary<string, string?> values) : IConfigurationSource
    {
        public HashSet<string> Asked { get; } = new(StringComparer.Ordinal);

        public IConfigurationProvider Build(IConfigurationBuilder builder) => new RecordingProvider(this, values);

        private sealed class RecordingProvider(RecordingSource source, IDictionary<string, string?> values) : ConfigurationProvider
        {
            public override void Load() => Data = new Dictionary<string, string?>(values, StringComparer.OrdinalIgnoreCase);

            public override bool TryGet(string key, out string? value)
            {
                lock (source.Asked) source.Asked.Add(key);
                return base.TryGet(key, out value);
            }
        }
    }
}
