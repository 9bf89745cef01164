namespace Serverless.Jobs.Batching;

/// <summary>
/// Tells its owner whether any prompt queued under it has entered a decode batch yet: the shutdown drain
/// (<see cref="Failover.ShutdownDrain"/>) lets a job whose decode started finish within the drain budget and hands a job
/// that never started back at once. Set as <see cref="Current"/> around a queue invocation; <see cref="PromptScheduler"/>
/// captures it when the job's prompts are queued and marks it when the first of them gets a row.
/// </summary>
internal sealed class DecodeWatch
{
    private static readonly AsyncLocal<DecodeWatch?> Flowing = new();
    private int _started;

    /// <summary>The watch of the invocation running on this async flow, if any.</summary>
    public static DecodeWatch? Current
    {
        get => Flowing.Value;
        set => Flowing.Value = value;
    }

    /// <summary>Whether a prompt queued under this watch has entered a decode batch.</summary>
    public bool HasStarted => Volatile.Read(ref _started) == 1;

    public void Started() => Volatile.Write(ref _started, 1);
}
