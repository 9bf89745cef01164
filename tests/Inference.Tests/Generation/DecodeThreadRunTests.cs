using Serverless.Inference.Generation;

namespace Serverless.Inference.Tests.Generation;

/// <summary>Decode loops hold their thread for a whole generation, so they must not take the thread pool's.</summary>
public sealed class DecodeThreadRunTests
{
    [Fact]
    public async Task A_decode_loop_runs_on_a_thread_of_its_own_not_a_thread_pool_thread()
    {
        var onPool = await DecodeThread.Run(() => Thread.CurrentThread.IsThreadPoolThread, CancellationToken.None);
        Assert.False(onPool);
    }
}
