using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary>
/// The submit must enqueue where the queue triggers listen, and the triggers name their connection in an attribute
/// (<c>AzureWebJobsStorage</c>), which no app setting moves. So no setting moves the submit's queue or store either.
/// </summary>
public sealed class ConnectionSettingTests
{
    [Fact]
    public async Task Jobs__Connection_no_longer_moves_the_submit_away_from_the_triggers_queue()
    {
        // Before: the submit read its connection from the setting named here, so it enqueued elsewhere (or, as here,
        // failed for want of that setting) while the triggers kept listening on AzureWebJobsStorage.
        await using var host = await JobsTestHost.CreateAsync(settings: new Dictionary<string, string?> { ["Jobs:Connection"] = "SomeOtherStorage" });

        var reply = await host.SubmitAsync("""{"prompt": "hello"}""");

        Assert.Equal(202, reply.Status);
        Assert.Single(await host.PeekAllAsync());
        Assert.Equal("AzureWebJobsStorage", host.Options.Connection);
    }
}
