using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Serverless.ModelStore.Telemetry;

/// <summary>The model store's traces and metrics (source and meter <c>Serverless.ModelStore</c>).</summary>
public static class ModelStoreTelemetry
{
    public const string Name = "Serverless.ModelStore";

    public static readonly ActivitySource Source = new(Name, typeof(ModelStoreTelemetry).Assembly.GetName().Version?.ToString());
    public static readonly Meter Meter = new(Name, typeof(ModelStoreTelemetry).Assembly.GetName().Version?.ToString());

    public static readonly Histogram<double> LoadDuration = Meter.CreateHistogram<double>(
        "model.load.duration", "s", "Loading a model version into ONNX Runtime (after its files are in the cache).");
    public static readonly Histogram<double> DownloadDuration = Meter.CreateHistogram<double>(
        "model.download.duration", "s", "Listing, checking the cache and downloading a model version's files.");
    public static readonly Counter<long> DownloadBytes = Meter.CreateCounter<long>(
        "model.download.bytes", "By", "Blob content bytes downloaded for model files.");

    internal static void RecordLoad(Activity? activity, ModelLoadInfo load)
    {
        var version = new KeyValuePair<string, object?>("model.version", load.Version);
        LoadDuration.Record(load.LoadDuration.TotalSeconds, version);
        DownloadDuration.Record(load.SyncDuration.TotalSeconds, version);
        DownloadBytes.Add(load.BytesDownloaded, version);
        activity?.SetTag("model.version", load.Version)
            .SetTag("model.files_downloaded", load.FilesDownloaded)
            .SetTag("model.files_reused", load.FilesReused)
            .SetTag("model.bytes_downloaded", load.BytesDownloaded)
            .SetTag("model.list_ms", load.ListDuration.TotalMilliseconds)
            .SetTag("model.hash_ms", load.HashDuration.TotalMilliseconds)
            .SetTag("model.verify_ms", load.VerifyDuration.TotalMilliseconds);
    }
}
