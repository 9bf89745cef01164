namespace Serverless.Jobs.Failover;

/// <summary>
/// How fast a dead instance's jobs move to a live one (<c>Failover__*</c> settings). A job's owner is dead when its
/// heartbeat is older than <see cref="DeadAfter"/> by storage's own clock; a sweep every <see cref="SweepInterval"/>
/// then hands its jobs back. Bound from a SIGKILL to the job running again elsewhere: about
/// <see cref="DeadAfter"/> + <see cref="SweepInterval"/> + the queue's polling interval. See docs/reliability.md.
/// </summary>
public sealed class FailoverOptions
{
    /// <summary>The configuration section (<c>Failover__HeartbeatInterval</c> and so on).</summary>
    public const string Section = "Failover";

    /// <summary>Off: no heartbeats, no sweeps, no ownership checks; a dead instance's jobs wait for the queue's own
    /// 10-minute message lease as before.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How often an instance renews its heartbeat blob (one write each).</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>A heartbeat older than this says its instance is dead. Several heartbeat intervals, so that one slow
    /// write (a storage hiccup, a long GC pause) does not make a live instance look dead.</summary>
    public TimeSpan DeadAfter { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How often an instance looks for dead instances (one List Blobs call when none is dead).</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>A job whose instance died this many attempts in a row fails (<c>retries_exhausted</c>) instead of being
    /// handed back again: the poison rule for work that kills its instance (e.g. out of memory). As host.json's
    /// maxDequeueCount.</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>Least time between two checkpoint writes of a running multi-prompt job (only when prompts finished since
    /// the last one): a retry decodes only the prompts not kept. Read by the worker's <c>JobCheckpoints</c> (see
    /// docs/reliability.md, "Resumable jobs"); applies with failover on or off.</summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>On shutdown (SIGTERM, scale-in), how long decodes already running may go on (<see cref="ShutdownDrain"/>): a
    /// job that finishes within it is answered by this instance; jobs not started are handed back at once, and those
    /// still running when it runs out are handed back then. Keep it well under the time the host waits after SIGTERM: the
    /// Functions host gives its functions about 10 s to stop, then its worker 5 s (docs/reliability.md).</summary>
    public TimeSpan DrainBudget { get; set; } = TimeSpan.FromSeconds(8);

    /// <summary>This instance's id: <c>WEBSITE_INSTANCE_ID</c> / <c>CONTAINER_NAME</c> on Azure, else host name + process id
    /// + a random suffix (so a restarted process is a new instance).</summary>
    public string InstanceId { get; set; } = "";

    /// <summary>Throws naming the setting when a value cannot work.</summary>
    public void Validate()
    {
        if (HeartbeatInterval <= TimeSpan.Zero) throw new FormatException("Setting Failover__HeartbeatInterval must be positive.");
        if (SweepInterval <= TimeSpan.Zero) throw new FormatException("Setting Failover__SweepInterval must be positive.");
        if (DeadAfter < HeartbeatInterval * 2)
            throw new FormatException($"Setting Failover__DeadAfter ({DeadAfter}) must be at least twice Failover__HeartbeatInterval ({HeartbeatInterval}): one late heartbeat must not make a live instance look dead.");
        if (MaxAttempts < 1) throw new FormatException("Setting Failover__MaxAttempts must be at least 1.");
        if (CheckpointInterval <= TimeSpan.Zero) throw new FormatException("Setting Failover__CheckpointInterval must be positive.");
        if (DrainBudget < TimeSpan.Zero) throw new FormatException("Setting Failover__DrainBudget must not be negative.");
    }
}
