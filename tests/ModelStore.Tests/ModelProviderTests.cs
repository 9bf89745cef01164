namespace Serverless.ModelStore.Tests;

/// <summary>The provider against real storage (Azurite by default): download, cache, single flight, integrity, errors.</summary>
public sealed class ModelProviderTests
{
    private const string Prefix = "flan-t5-small/";

    /// <summary>A new cache folder that one provider has already filled from <paramref name="storage"/> (a warm restart's starting point).</summary>
    private static async Task<string> FilledCacheAsync(TestStorage storage)
    {
        var cache = storage.NewCacheDirectory();
        using (var first = Provider(storage, cache, new CountingLoader()))
        using (await first.AcquireAsync()) { }
        return cache;
    }

    private static ModelProvider<HashedModel> Provider(TestStorage storage, string cacheDirectory, CountingLoader loader,
        ModelStoreOptions? options = null, IProgress<ModelTransferProgress>? progress = null) =>
        new(storage.Container, (options ?? new ModelStoreOptions()) with { Prefix = Prefix, CacheDirectory = cacheDirectory }, loader.Load, progress);

    private static void AssertSameFiles(FakeModel source, HashedModel loaded)
    {
        Assert.Equal(source.Hashes.OrderBy(kv => kv.Key), loaded.Hashes.OrderBy(kv => kv.Key));
    }

    [Fact]
    public async Task First_acquire_downloads_every_file_once_and_loads()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel();
        await ModelUploader.UploadAsync(model.Directory, storage.Container, Prefix);
        storage.Requests.Clear();
        var loader = new CountingLoader();
        var reports = new List<ModelTransferProgress>();
        using var provider = Provider(storage, storage.NewCacheDirectory(), loader, progress: new SyncProgress<ModelTransferProgress>(p => { lock (reports) reports.Add(p); }));

        Assert.Equal(0, storage.Requests.Count); // nothing at construction
        using var lease = await provider.AcquireAsync();

        AssertSameFiles(model, lease.Model);
        Assert.Equal(1, loader.Loads);
        foreach (var name in model.Hashes.Keys) Assert.Equal(1, storage.Requests.DownloadsStarted(Prefix + name));
        Assert.Empty(storage.Requests.ContentGets(Prefix + "README.md"));
        Assert.Equal(model.Hashes.Count, provider.LastLoad!.FilesDownloaded);
        var total = model.Hashes.Keys.Sum(k => new FileInfo(Path.Combine(model.Directory, k)).Length);
        Assert.Equal(total, provider.LastLoad.BytesDownloaded);
        var last = reports.MaxBy(r => (r.BytesTransferred, r.FilesCompleted));
        Assert.Equal(new ModelTransferProgress(total, total, model.Hashes.Count, model.Hashes.Count), last);
    }

    [Fact]
    public async Task Second_acquire_in_same_process_sends_no_requests()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel();
        await ModelUploader.UploadAsync(model.Directory, storage.Container, Prefix);
        var loader = new CountingLoader();
        using var provider = Provider(storage, storage.NewCacheDirectory(), loader);
        HashedModel first;
        using (var lease = await provider.AcquireAsync()) first = lease.Model;
        storage.Requests.Clear();

        using var again = await provider.AcquireAsync();

        Assert.Same(first, again.Model);
        Assert.False(first.IsDisposed);
        Assert.Equal(0, storage.Requests.Count);
        Assert.Equal(1, loader.Loads);
    }

    [Fact]
    public async Task Sixteen_concurrent_first_requests_download_each_blob_once_and_load_once()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel();
        await ModelUploader.UploadAsync(model.Directory, storage.Container, Prefix);
        storage.Requests.Clear();
        var loader = new CountingLoader();
        using var provider = Provider(storage, storage.NewCacheDirectory(), loader);

        var leases = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() => provider.AcquireAsync())));

        Assert.Equal(1, loader.Loads);
        Assert.All(leases, l => Assert.Same(leases[0].Model, l.Model));
        foreach (var name in model.Hashes.Keys) Assert.Equal(1, storage.Requests.DownloadsStarted(Prefix + name));
        AssertSameFiles(model, leases[0].Model);
        foreach (var l in leases) l.Dispose();
    }

    [Fact]
    public async Task Two_providers_sharing_a_cache_folder_download_each_blob_once_between_them()
    {
        // Two providers stand in for two processes: the cache folder's lock file is what serialises them.
        await using var storage = new TestStorage();
        using var model = new FakeModel();
        await ModelUploader.UploadAsync(model.Directory, storage.Container, Prefix);
        storage.Requests.Clear();
        var cache = storage.NewCacheDirectory();
        var (loaderA, loaderB) = (new CountingLoader(), new CountingLoader());
        using var a = Provider(storage, cache, loaderA);
        using var b = Provider(storage, cache, loaderB);

        var leases = await Task.WhenAll(Task.Run(() => a.AcquireAsync()), Task.Run(() => b.AcquireAsync()));

        foreach (var name in model.Hashes.Keys) Assert.Equal(1, storage.Requests.DownloadsStarted(Prefix + name));
        AssertSameFiles(model, leases[0].Model);
        AssertSameFiles(model, leases[1].Model);
        Assert.Equal(model.Hashes.Count, a.LastLoad!.FilesDownloaded + b.LastLoad!.FilesDownloaded);
        foreach (var l in leases) l.Dispose();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Warm_restart_with_unchanged_etags_downloads_no_content(bool verifyCachedFiles)
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel();
        await ModelUploader.UploadAsync(model.Directory, storage.Container, Prefix);
        var cache = await FilledCacheAsync(storage);
        storage.Requests.Clear();

        var loader = new CountingLoader();
        using var restarted = Provider(storage, cache, loader, new ModelStoreOptions { VerifyCachedFiles = verifyCachedFiles });
        using var lease = await restarted.AcquireAsync();

        Assert.Equal(0, storage.Requests.AllContentGets); // listing only: not even the manifest is fetched again
        Assert.True(storage.Requests.Count > 0);
        Assert.Equal(1, loader.Loads);
        Assert.Equal(0, restarted.LastLoad!.FilesDownloaded);
        Assert.Equal(model.Hashes.Count, restarted.LastLoad.FilesReused);
        AssertSameFiles(model, lease.Model);
    }

    [Fact]
    public async Task Changed_blob_is_downloaded_again_others_are_not()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel();
        await ModelUploader.UploadAsync(model.Directory, storage.Container, Prefix);
        var cache = await FilledCacheAsync(storage);

        model.Write("encoder_model.onnx", System.Security.Cryptography.RandomNumberGenerator.GetBytes(1 << 20));
        await ModelUploader.UploadAsync(model.Directory, storage.Container, Prefix); // unchanged blobs keep their ETags
        storage.Requests.Clear();

        using var restarted = Provider(storage, cache, new CountingLoader());
        using var lease = await restarted.AcquireAsync();

        Assert.Equal(1, storage.Requests.DownloadsStarted(Prefix + "encoder_model.onnx"));
        Assert.Equal(1, storage.Requests.DownloadsStarted(Prefix + ModelLayout.ManifestName));
        Assert.Equal(0, storage.Requests.DownloadsStarted(Prefix + "decoder_model_merged.onnx"));
        Assert.Equal(0, storage.Requests.DownloadsStarted(Prefix + "spiece.model"));
        AssertSameFiles(model, lease.Model);
    }

    [Fact]
    public async Task Refresh_LoadsNewVersionBetweenRequests_AndDisposesOldOneWhenItsLastLeaseEnds()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel();
        await model.UploadWithoutManifestAsync(storage.Container, Prefix);
        var loader = new CountingLoader();
        using var provider = Provider(storage, storage.NewCacheDirectory(), loader);
        var oldLease = await provider.AcquireAsync();
        var oldModel = oldLease.Model;
        storage.Requests.Clear();

        Assert.False(await provider.RefreshAsync()); // unchanged: listing only
        Assert.Equal(0, storage.Requests.AllContentGets);

        model.Write("decoder_model_merged.onnx", System.Security.Cryptography.RandomNumberGenerator.GetBytes(1 << 20));
        await storage.Container.GetBlobClient(Prefix + "decoder_model_merged.onnx").UploadAsync(
            Path.Combine(model.Directory, "decoder_model_merged.onnx"), overwrite: true);

        Assert.True(await provider.RefreshAsync());
        Assert.Equal(2, loader.Loads);
        Assert.False(oldModel.IsDisposed); // a request still holds it
        using var newLease = await provider.AcquireAsync();
        Assert.NotSame(oldModel, newLease.Model);
        Assert.NotEqual(oldLease.Version, newLease.Version);
        AssertSameFiles(model, newLease.Model);

        oldLease.Dispose();
        Assert.True(oldModel.IsDisposed);
        Assert.False(newLease.Model.IsDisposed);
    }

    [Fact]
    public async Task Refresh_interval_checks_in_the_background_and_serves_the_current_model_meanwhile()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel();
        await model.UploadWithoutManifestAsync(storage.Container, Prefix);
        var loader = new CountingLoader();
        using var provider = Provider(storage, storage.NewCacheDirectory(), loader, new ModelStoreOptions { RefreshInterval = TimeSpan.FromMilliseconds(200) });
        HashedModel first;
        using (var lease = await provider.AcquireAsync()) first = lease.Model;

        model.Write("spiece.model", System.Security.Cryptography.RandomNumberGenerator.GetBytes(1000));
        await storage.Container.GetBlobClient(Prefix + "spiece.model").UploadAsync(Path.Combine(model.Directory, "spiece.model"), overwrite: true);
        await Task.Delay(300);

        using (var lease = await provider.AcquireAsync()) Assert.Same(first, lease.Model); // triggers the check, does not wait for it
        var deadline = DateTime.UtcNow.AddSeconds(30);
        ModelLease<HashedModel> newer;
        while (true)
        {
            newer = await provider.AcquireAsync();
            if (!ReferenceEquals(newer.Model, first) || DateTime.UtcNow > deadline) break;
            newer.Dispose();
            await Task.Delay(50);
        }
        using var _ = newer;
        Assert.Null(provider.LastRefreshError);
        Assert.Equal(2, loader.Loads);
        Assert.NotSame(first, newer.Model);
        Assert.True(first.IsDisposed);
        AssertSameFiles(model, newer.Model);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)] // the write time moved, so the file is re-hashed anyway
    public async Task CorruptedCacheFiles_AreDetectedAndReplaced(bool verifyCachedFiles)
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel();
        await ModelUploader.UploadAsync(model.Directory, storage.Container, Prefix);
        var cache = await FilledCacheAsync(storage);

        // Same size, one byte flipped (only the hash can tell) and a truncated file (the size tells).
        var encoder = Path.Combine(cache, "encoder_model.onnx");
        var bytes = File.ReadAllBytes(encoder);
        bytes[bytes.Length / 2] ^= 0xFF;
        File.WriteAllBytes(encoder, bytes);
        using (var s = new FileStream(Path.Combine(cache, "spiece.model"), FileMode.Open)) s.SetLength(10);
        storage.Requests.Clear();

        using var restarted = Provider(storage, cache, new CountingLoader(), new ModelStoreOptions { VerifyCachedFiles = verifyCachedFiles });
        using var lease = await restarted.AcquireAsync();

        Assert.Equal(1, storage.Requests.DownloadsStarted(Prefix + "encoder_model.onnx"));
        Assert.Equal(1, storage.Requests.DownloadsStarted(Prefix + "spiece.model"));
        Assert.Equal(0, storage.Requests.DownloadsStarted(Prefix + "decoder_model_merged.onnx"));
        Assert.Equal(2, restarted.LastLoad!.FilesDownloaded);
        AssertSameFiles(model, lease.Model);
    }

    [Fact]
    public async Task Corruption_keeping_size_and_write_time_is_caught_by_the_hash_beside_the_load_and_the_load_is_redone()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel();
        await ModelUploader.UploadAsync(model.Directory, storage.Container, Prefix);
        var cache = await FilledCacheAsync(storage);

        var encoder = Path.Combine(cache, "encoder_model.onnx");
        var written = File.GetLastWriteTimeUtc(encoder);
        var bytes = File.ReadAllBytes(encoder);
        bytes[12345] ^= 0x01;
        File.WriteAllBytes(encoder, bytes);
        File.SetLastWriteTimeUtc(encoder, written); // bit rot: nothing but the content changed
        storage.Requests.Clear();

        var loader = new CountingLoader();
        using var restarted = Provider(storage, cache, loader);
        using var lease = await restarted.AcquireAsync();

        Assert.Equal(1, storage.Requests.DownloadsStarted(Prefix + "encoder_model.onnx"));
        Assert.Equal(0, storage.Requests.DownloadsStarted(Prefix + "decoder_model_merged.onnx"));
        Assert.Equal(2, loader.Loads);
        Assert.True(loader.Models[0].IsDisposed); // the load from the bad file was thrown away
        Assert.Same(loader.Models[1], lease.Model);
        AssertSameFiles(model, lease.Model);
    }

    [Fact]
    public async Task Interrupted_download_leaves_no_trusted_file_and_the_next_acquire_succeeds()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel(encoderBytes: 12 << 20);
        await ModelUploader.UploadAsync(model.Directory, storage.Container, Prefix);
        var cache = storage.NewCacheDirectory();
        var options = new ModelStoreOptions { TransferSize = 1 << 20, MaxConcurrencyPerFile = 2, MaxParallelFiles = 1 };
        using var cts = new CancellationTokenSource();
        var cancelAt = 4L << 20;
        var progress = new SyncProgress<ModelTransferProgress>(p => { if (p.BytesTransferred >= cancelAt) cts.Cancel(); });
        var loader = new CountingLoader();
        using (var provider = Provider(storage, cache, loader, options, progress))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => provider.AcquireAsync(cts.Token));
        }

        Assert.Equal(0, loader.Loads);
        Assert.False(File.Exists(Path.Combine(cache, "encoder_model.onnx"))); // largest first: it was the one cut off
        Assert.Empty(Directory.EnumerateFiles(cache, "*.partial", SearchOption.AllDirectories));
        Assert.DoesNotContain("encoder_model.onnx", CacheRecord.Load(cache).Files.Keys);

        // A process killed mid-download leaves a temp file; an untracked file is not trusted either.
        File.WriteAllBytes(Path.Combine(cache, "decoder_model_merged.onnx.0123456789abcdef0123456789abcdef.partial"), new byte[100]);
        File.WriteAllBytes(Path.Combine(cache, "encoder_model.onnx"), new byte[12 << 20]);

        using var retry = Provider(storage, cache, loader, options);
        using var lease = await retry.AcquireAsync();
        AssertSameFiles(model, lease.Model);
        Assert.Empty(Directory.EnumerateFiles(cache, "*.partial", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Folder_uploaded_without_manifest_works_with_size_and_e_tag_and_under_onnx()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel(underOnnx: true, merged: false);
        await model.UploadWithoutManifestAsync(storage.Container, Prefix);
        await storage.Container.GetBlobClient(Prefix + "v2/config.json").UploadAsync(BinaryData.FromString("{}")); // another version: ignored
        var cache = storage.NewCacheDirectory();
        using (var provider = Provider(storage, cache, new CountingLoader()))
        using (var lease = await provider.AcquireAsync())
        {
            AssertSameFiles(model, lease.Model);
            Assert.Equal(0, storage.Requests.DownloadsStarted(Prefix + "v2/config.json"));
        }
        storage.Requests.Clear();

        using var restarted = Provider(storage, cache, new CountingLoader());
        using var again = await restarted.AcquireAsync();
        Assert.Equal(0, storage.Requests.AllContentGets);
        AssertSameFiles(model, again.Model);
    }

    [Fact]
    public async Task Only_the_files_the_engine_uses_are_downloaded()
    {
        // An Optimum export carries the merged decoder and the split pair, and maybe quantized graphs: uploaded whole
        // (--all), the engine prefers the split fp32 pair, so the rest stays in storage.
        await using var storage = new TestStorage();
        using var model = new FakeModel(underOnnx: true);
        string[] used = ["onnx/decoder_model.onnx", "onnx/decoder_with_past_model.onnx", "onnx/decoder_with_past_model.onnx_data"];
        foreach (var name in used.Append("onnx/encoder_model_quantized.onnx"))
            model.Write(name, System.Security.Cryptography.RandomNumberGenerator.GetBytes(1000));
        string[] unused = ["onnx/decoder_model_merged.onnx", "onnx/encoder_model_quantized.onnx"];
        await ModelUploader.UploadAsync(ModelUploader.Plan(model.Directory, includeAll: true), storage.Container, Prefix);
        storage.Requests.Clear();
        var cache = storage.NewCacheDirectory();
        using var provider = Provider(storage, cache, new CountingLoader());

        using var lease = await provider.AcquireAsync();

        foreach (var name in unused)
        {
            Assert.Equal(0, storage.Requests.DownloadsStarted(Prefix + name));
            Assert.DoesNotContain(name, lease.Model.Hashes.Keys);
        }
        foreach (var name in used)
            Assert.Equal(1, storage.Requests.DownloadsStarted(Prefix + name));
        Assert.Equal(model.Hashes.Count - unused.Length, lease.Model.Hashes.Count);
    }

    [Fact]
    public async Task Cache_folder_locked_by_another_process_times_out_as_transient()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel();
        await ModelUploader.UploadAsync(model.Directory, storage.Container, Prefix);
        var cache = storage.NewCacheDirectory();
        Directory.CreateDirectory(cache);
        var loader = new CountingLoader();
        using var provider = Provider(storage, cache, loader, new ModelStoreOptions { CacheLockTimeout = TimeSpan.FromMilliseconds(300) });

        using (new FileStream(Path.Combine(cache, ".lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            var e = await Assert.ThrowsAsync<ModelCacheLockTimeoutException>(() => provider.AcquireAsync());
            Assert.True(e.IsTransient);
            Assert.Contains(".lock", e.Message);
        }
        Assert.Equal(0, loader.Loads);

        using var lease = await provider.AcquireAsync(); // released: the next request proceeds
        AssertSameFiles(model, lease.Model);
    }

    [Fact]
    public async Task Disposing_the_provider_keeps_the_model_until_the_last_lease_ends()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel();
        await ModelUploader.UploadAsync(model.Directory, storage.Container, Prefix);
        var provider = Provider(storage, storage.NewCacheDirectory(), new CountingLoader());
        var lease = await provider.AcquireAsync();

        provider.Dispose();

        Assert.False(lease.Model.IsDisposed);
        var loaded = lease.Model;
        lease.Dispose();
        Assert.True(loaded.IsDisposed);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => provider.AcquireAsync());
    }

    [Fact]
    public async Task Missing_file_names_the_blob_path_and_lists_what_was_found()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel(withDecoder: false);
        await model.UploadWithoutManifestAsync(storage.Container, Prefix);
        using var provider = Provider(storage, storage.NewCacheDirectory(), new CountingLoader());

        var e = await Assert.ThrowsAsync<ModelFileMissingException>(() => provider.AcquireAsync());

        Assert.False(e.IsTransient);
        Assert.Equal(Prefix + "decoder_model_merged.onnx", e.MissingPath);
        Assert.Contains($"'{Prefix}decoder_model_merged.onnx'", e.Message);
        Assert.Contains("encoder_model.onnx", e.Message);
        Assert.Contains("spiece.model", e.Message);
        Assert.Contains(storage.Container.Name, e.Message);
        Assert.Contains("serverless model upload", e.Message);
    }

    [Fact]
    public async Task Missing_container_says_which_and_how_to_fix_it()
    {
        await using var storage = new TestStorage();
        using var provider = Provider(storage, storage.NewCacheDirectory(), new CountingLoader());

        var e = await Assert.ThrowsAsync<ModelContainerNotFoundException>(() => provider.AcquireAsync());

        Assert.False(e.IsTransient);
        Assert.Contains($"'{storage.Container.Name}'", e.Message);
        Assert.Contains(storage.Container.AccountName, e.Message);
        Assert.Contains("serverless model upload", e.Message);
    }

    [Fact]
    public async Task Content_not_matching_manifest_throws_checksum_mismatch_and_deletes_the_bad_file()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel();
        await ModelUploader.UploadAsync(model.Directory, storage.Container, Prefix);
        // Same size, different bytes, manifest untouched: only the hash can tell.
        await storage.Container.GetBlobClient(Prefix + "encoder_model.onnx").UploadAsync(
            BinaryData.FromBytes(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3 << 20)), overwrite: true);
        var cache = storage.NewCacheDirectory();
        var loader = new CountingLoader();
        using var provider = Provider(storage, cache, loader);

        var e = await Assert.ThrowsAsync<ModelChecksumMismatchException>(() => provider.AcquireAsync());

        Assert.False(e.IsTransient);
        Assert.Equal(Prefix + "encoder_model.onnx", e.BlobPath);
        Assert.Contains("deleted", e.Message);
        Assert.Contains("serverless model upload", e.Message);
        Assert.False(File.Exists(Path.Combine(cache, "encoder_model.onnx")));
        Assert.Empty(Directory.EnumerateFiles(cache, "*.partial", SearchOption.AllDirectories));
        Assert.Equal(0, loader.Loads);
    }

    [Fact]
    public async Task Access_denied_names_the_role_needed()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel();
        await ModelUploader.UploadAsync(model.Directory, storage.Container, Prefix);
        // A SAS that may read blobs but not list them: the listing is refused with 403.
        var sas = storage.Container.GenerateSasUri(Azure.Storage.Sas.BlobContainerSasPermissions.Read, DateTimeOffset.UtcNow.AddHours(1));
        var readOnly = new Azure.Storage.Blobs.BlobContainerClient(sas, StorageRetry.ModelTransfer.BlobOptions());
        using var provider = new ModelProvider<HashedModel>(readOnly, new ModelStoreOptions { Prefix = Prefix, CacheDirectory = storage.NewCacheDirectory() }, new CountingLoader().Load);

        var e = await Assert.ThrowsAsync<ModelAccessDeniedException>(() => provider.AcquireAsync());

        Assert.False(e.IsTransient);
        Assert.Contains("Storage Blob Data Reader", e.Message);
        Assert.Contains(storage.Container.Name, e.Message);
    }

    [Fact]
    public async Task Unreachable_storage_is_transient_after_bounded_retries()
    {
        var options = (StorageRetry.ModelTransfer with { MaxRetries = 1 }).BlobOptions();
        options.Retry.Delay = TimeSpan.FromMilliseconds(10);
        var container = new Azure.Storage.Blobs.BlobServiceClient(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;",
            options).GetBlobContainerClient("models");
        using var provider = new ModelProvider<HashedModel>(container, new ModelStoreOptions { CacheDirectory = Path.Combine(Path.GetTempPath(), "modelstore-tests", Guid.NewGuid().ToString("N")) }, new CountingLoader().Load);

        var e = await Assert.ThrowsAsync<ModelStoreUnavailableException>(() => provider.AcquireAsync());

        Assert.True(e.IsTransient);
        Assert.Contains("127.0.0.1:1", e.Message);
    }
}
