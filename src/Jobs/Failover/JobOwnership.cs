using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Serverless.Jobs.Checkpoints;
using Serverless.Jobs.Messages;
using Serverless.Jobs.Specs;
using Serverless.Jobs.Storage;

namespace Serverless.Jobs.Failover;

/// <summary>
/// The worker's side of failover: an attempt starts only on a job nobody live holds. Taking it is the attempt's
/// <see cref="JobRecord.Started"/> write with this instance's <see cref="JobLease"/>, under the record's ETag; a record
/// held by another instance is taken only after its heartbeat is found dead, and the write is conditioned on that same
/// owner still holding it, so two instances never both win.
/// </summary>
internal sealed class JobOwnership
{
    private readonly JobStore _store;
    private readonly HeartbeatStore _heartbeats;
    private readonly InstanceHeartbeat _heartbeat;
    private readonly FailoverOptions _options;
    private readonly TimeProvider _time;
    private readonly FailoverSweeper _sweeper;
    private readonly ILogger _logger;

    public JobOwnership(JobStore store, HeartbeatStore heartbeats, InstanceHeartbeat heartbeat, FailoverSweeper sweeper, FailoverOptions options, TimeProvider time,
        ILogger<JobOwnership> logger)
    {
        Checkpoints = new CheckpointStore(store.JobsContainer, "_checkpoints/");
        _sweeper = sweeper;
        _store = store;
        _heartbeats = heartbeats;
        _heartbeat = heartbeat;
        _options = options;
        _time = time;
        _logger = logger;
    }

    public bool Enabled => _options.Enabled;

    /// <summary>Finished prompts of running jobs, <c>jobs/_checkpoints/{id}.json</c>.</summary>
    public CheckpointStore Checkpoints { get; }

    /// <summary>Opens the attempt's checkpoint: what earlier attempts finished, and a writer for what this one finishes.</summary>
    public Task<ResumedPrompts> ResumeAsync(string id, JobSpec spec, bool retry, CancellationToken cancellationToken) =>
        ResumedPrompts.StartAsync(Checkpoints, id, spec, retry, _options.CheckpointInterval, _time, _logger, cancellationToken);

    public string InstanceId => _options.InstanceId;

    /// <summary>Lists the job in this instance's heartbeat (stored before this returns) until disposed.</summary>
    public async Task<IDisposable> HoldAsync(string id, CancellationToken cancellationToken)
    {
        var hold = _heartbeat.Hold(id);
        try
        {
            await _heartbeat.PublishAsync(cancellationToken).ConfigureAwait(false);
            return hold;
        }
        catch
        {
            hold.Dispose();
            throw;
        }
    }

    /// <summary>Graceful scale-in: the host is stopping, so this instance gives the job back now (record queued again,
    /// a new message visible after <see cref="ShutdownDrain.HandBackDelay"/>) instead of leaving its message invisible
    /// until a timeout. Bounded by
    /// <paramref name="budget"/>; false when it could not (the message then comes back the old way).</summary>
    public async Task<bool> HandBackOnShutdownAsync(string id, TimeSpan budget)
    {
        using var timeout = new CancellationTokenSource(budget);
        try
        {
            return await _sweeper.HandBackAsync(id, InstanceId, "the instance was shutting down (scale-in or restart)", ShutdownDrain.HandBackDelay, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (StorageFailure.Is(e) || e is OperationCanceledException)
        {
            _logger.LogWarning(e, "Job {JobId}: could not hand the job back on shutdown; its message comes back after the queue's timeout", id);
            return false;
        }
    }

    /// <summary>Starts an attempt of the job held by this instance (the caller holds it in the heartbeat already).</summary>
    /// <returns>The record as stored; <c>HeldElsewhere</c> when a live instance runs it (the message is a duplicate: complete it).</returns>
    public async Task<(JobRecord? Record, bool HeldElsewhere)> StartAsync(TrackedRecord tracked, ParsedMessage message, int promptCount, CancellationToken cancellationToken)
    {
        var id = tracked.Id;
        var lease = new JobLease(InstanceId, _time.GetUtcNow(), ResendText(message));
        string? dead = null;
        for (var round = 0; round < 4; round++)
        {
            var now = _time.GetUtcNow();
            var record = await _store.UpdateAsync(tracked, r =>
            {
                var current = r ?? JobRecord.Created(id, now, JobRecord.FromQueue);
                if (current is { Status: JobStatus.Running, Lease: { } held } && !CanTake(held.Owner, id, dead)) return null;
                return current.Started(now, promptCount, lease with { AcquiredAt = now });
            }, cancellationToken).ConfigureAwait(false);
            if (record is null || record.IsTerminal) return (record, false);
            if (record is { Status: JobStatus.Running, Lease: { } taken } && taken.Owner == InstanceId && taken.AcquiredAt == now)
                return (record, false);
            var owner = record.Lease?.Owner;
            if (owner is null || owner == InstanceId) return (record, true);
            var age = await _heartbeats.GetAgeAsync(owner, cancellationToken).ConfigureAwait(false);
            if (age is { } a && a <= _options.DeadAfter)
            {
                _logger.LogInformation("Job {JobId} is held by live instance {Owner} (heartbeat {Age:F1} s old); this delivery is a duplicate", id, owner, a.TotalSeconds);
                return (record, true);
            }
            _logger.LogWarning("Job {JobId}: its owner {Owner} is dead (heartbeat {Age}); taking it over", id, owner, age is { } x ? $"{x.TotalSeconds:F0} s old" : "gone");
            dead = owner;
        }
        throw new InvalidOperationException($"Job {id}: its owner kept changing while this instance tried to take it; the message will be delivered again.");
    }

    private bool CanTake(string owner, string id, string? dead) => owner == dead || (owner == InstanceId && !_heartbeat.HoldsMoreThanOnce(id));

    /// <summary>The message to send if this attempt's instance dies: the original, with the job id in it (a message
    /// without one names its job by its own message id, which a new message would not have). Null: the spec is in blob.</summary>
    internal static string? ResendText(ParsedMessage message)
    {
        switch (message.Kind)
        {
            case MessageKind.SpecInBlob:
                return null;
            case MessageKind.Prompt:
                return JsonSerializer.Serialize(new { id = message.JobId, prompt = message.Text });
            case MessageKind.Spec when message.HasExplicitId:
                return message.Text;
            case MessageKind.Spec:
                var node = JsonNode.Parse(message.Text)!.AsObject();
                node["id"] = message.JobId;
                return node.ToJsonString();
            default:
                return message.Text;
        }
    }

    /// <summary>The text a sweep sends again for a job held under <paramref name="lease"/>.</summary>
    internal static string MessageFor(string jobId, JobLease lease) =>
        lease.Message ?? JsonSerializer.Serialize(new { id = jobId, input = "blob" });
}
