namespace Serverless.ModelStore.Tests;

/// <summary>What a load records about where its time went (the cold-start log line and benchmark read it).</summary>
public sealed class ModelLoadInfoTests
{
    private const string Prefix = "phases/";

    private static ModelProvider<HashedModel> Provider(TestStorage storage, string cache, bool verifyCachedFiles = true) =>
        new(storage.Container, new ModelStoreOptions { Prefix = Prefix, CacheDirectory = cache, VerifyCachedFiles = verifyCachedFiles },
            new CountingLoader().Load);

    [Fact]
    public async Task A_cold_load_records_when_it_began_its_listing_and_the_hashing_done_while_downloading()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel();
        await ModelUploader.UploadAsync(model.Directory, storage.Container, Prefix);
        using var provider = Provider(storage, storage.NewCacheDirectory());

        var before = DateTimeOffset.UtcNow;
        using (await provider.AcquireAsync()) { }
        var after = DateTimeOffset.UtcNow;

        var load = provider.LastLoad!;
        Assert.InRange(load.StartedAt, before, after);
        Assert.True(load.ListDuration > TimeSpan.Zero);
        Assert.True(load.HashDuration > TimeSpan.Zero, "the downloads were hashed on their way to disk");
        Assert.Equal(TimeSpan.Zero, load.VerifyDuration); // nothing was reused, so nothing re-hashed
        Assert.InRange(load.ReadyAt, load.StartedAt + load.SyncDuration + load.LoadDuration, after);
    }

    [Fact]
    public async Task A_warm_load_records_the_re_hashing_of_cached_files_and_no_download_hashing()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel();
        await ModelUploader.UploadAsync(model.Directory, storage.Container, Prefix);
        var cache = storage.NewCacheDirectory();
        using (var first = Provider(storage, cache))
        using (await first.AcquireAsync()) { }

        using var restarted = Provider(storage, cache);
        using (await restarted.AcquireAsync()) { }
        using var trusting = Provider(storage, cache, verifyCachedFiles: false);
        using (await trusting.AcquireAsync()) { }

        Assert.Equal(0, restarted.LastLoad!.FilesDownloaded);
        Assert.Equal(TimeSpan.Zero, restarted.LastLoad.HashDuration);
        Assert.True(restarted.LastLoad.VerifyDuration > TimeSpan.Zero, "cached files are re-hashed beside the load");
        Assert.Equal(TimeSpan.Zero, trusting.LastLoad!.VerifyDuration);
    }
}
