namespace Serverless.Jobs.Tests.Infrastructure;

/// <summary>A <see cref="TimeProvider"/> whose time moves only when a test moves it (timestamps in milliseconds).</summary>
internal sealed class ManualClock : TimeProvider
{
    private long _now = 1_000_000;

    public override long TimestampFrequency => 1000;

    public override long GetTimestamp() => _now;

    public void Advance(TimeSpan by) => _now += (long)by.TotalMilliseconds;
}
