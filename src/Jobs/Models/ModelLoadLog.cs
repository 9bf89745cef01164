using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Serverless.ModelStore;

namespace Serverless.Jobs.Models;

/// <summary>
/// The cold-start log lines: where a model load's time went, with wall-clock times, so that a log alone says how long
/// a new instance took to serve (<c>docs/cold-start.md</c>, <c>scripts/bench-cold-start.sh</c> reads these lines).
/// </summary>
internal static class ModelLoadLog
{
    /// <summary>When this process started (the worker's, under the Functions host).</summary>
    public static DateTimeOffset ProcessStartedAt { get; } = ReadProcessStart();

    public static void Loaded(ILogger logger, ModelLoadInfo load) =>
        logger.LogInformation(
            "Model {ModelVersion} loaded: started {LoadStartedAt:O}; listed in {ListMs:F0} ms; fetched {BytesDownloaded} bytes in {FilesDownloaded} files " +
            "in {FetchMs:F0} ms (hashing {HashMs:F0} ms of it); reused {FilesReused} cached files (re-hashed in {VerifyMs:F0} ms beside the load); " +
            "ONNX Runtime sessions in {SessionsMs:F0} ms; ready {ReadyAt:O}, {SinceProcessStartMs:F0} ms after the process started",
            load.Version, load.StartedAt, load.ListDuration.TotalMilliseconds, load.BytesDownloaded, load.FilesDownloaded,
            load.SyncDuration.TotalMilliseconds, load.HashDuration.TotalMilliseconds, load.FilesReused, load.VerifyDuration.TotalMilliseconds,
            load.LoadDuration.TotalMilliseconds, load.ReadyAt, (load.ReadyAt - ProcessStartedAt).TotalMilliseconds);

    private static DateTimeOffset ReadProcessStart()
    {
        try
        {
            using var process = Process.GetCurrentProcess();
            return process.StartTime.ToUniversalTime();
        }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException or System.ComponentModel.Win32Exception)
        {
            // Not readable here: count from the first use instead.
            return DateTimeOffset.UtcNow;
        }
    }
}
