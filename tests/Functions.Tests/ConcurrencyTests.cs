using Serverless.Functions.Tests.Infrastructure;

namespace Serverless.Functions.Tests;

public sealed class ConcurrencyTests(LocalHostFixture host) : IClassFixture<LocalHostFixture>
{
    [Fact]
    public async Task Two_hundred_concurrent_submissions_all_succeed()
    {
        const int Jobs = 200;
        var ids = await Task.WhenAll(Enumerable.Range(0, Jobs).Select(i =>
            host.SubmitAsync(new { prompt = $"Question {i}: where is Ganymede?", parameters = new { max_new_tokens = 2 } })));
        Assert.Equal(Jobs, ids.Distinct().Count());

        using var gate = new SemaphoreSlim(16);
        var jobs = await Task.WhenAll(ids.Select(async id =>
        {
            await gate.WaitAsync();
            try { return await host.WaitAsync(id, TimeSpan.FromSeconds(180)); }
            finally { gate.Release(); }
        }));

        Assert.All(jobs, j => Assert.Equal("succeeded", j.Status()));
    }
}
