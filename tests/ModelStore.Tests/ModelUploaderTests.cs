using System.Text.Json;

namespace Serverless.ModelStore.Tests;

public sealed class ModelUploaderTests
{
    [Fact]
    public async Task Upload_WritesAManifestThatVerifyAccepts_AndListShowsTheVersion()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel(underOnnx: true);
        var reports = new List<ModelTransferProgress>();

        var manifest = await ModelUploader.UploadAsync(model.Directory, storage.Container, "flan-t5-small",
            new SyncProgress<ModelTransferProgress>(p => { lock (reports) reports.Add(p); }));

        Assert.Equal(model.Hashes.OrderBy(kv => kv.Key, StringComparer.Ordinal), manifest.Files.Select(f => KeyValuePair.Create(f.Name, f.Sha256)));
        var stored = ModelManifest.Parse((await storage.Container.GetBlobClient("flan-t5-small/manifest.json").DownloadContentAsync()).Value.Content.ToArray());
        Assert.Equal(manifest.Files, stored.Files);
        Assert.False(await storage.Container.GetBlobClient("flan-t5-small/README.md").ExistsAsync());
        var total = manifest.Files.Sum(f => f.Size);
        Assert.Contains(reports, r => r.BytesTransferred == total && r.FilesCompleted == manifest.Files.Count);

        var verified = await ModelUploader.VerifyAsync(storage.Container, "flan-t5-small/");
        Assert.True(verified.IsValid, string.Join("; ", verified.Problems));
        Assert.Equal(manifest.Files.Count, verified.FilesChecked);
        Assert.Equal(total, verified.BytesChecked);

        var versions = await ModelUploader.ListAsync(storage.Container);
        var version = Assert.Single(versions);
        Assert.Equal("flan-t5-small/", version.Prefix);
        Assert.Equal(manifest.Files.Count + 1, version.FileCount);
        Assert.True(version.HasManifest);
        Assert.True(version.TotalBytes > total);
    }

    [Fact]
    public async Task Verify_ReportsADamagedBlob_AndAMissingOne()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel();
        await ModelUploader.UploadAsync(model.Directory, storage.Container, "m/");
        await storage.Container.GetBlobClient("m/encoder_model.onnx").UploadAsync(
            BinaryData.FromBytes(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3 << 20)), overwrite: true);
        await storage.Container.GetBlobClient("m/tokenizer.json").DeleteAsync();

        var result = await ModelUploader.VerifyAsync(storage.Container, "m/");

        Assert.False(result.IsValid);
        Assert.Contains(result.Problems, p => p.StartsWith("m/encoder_model.onnx: SHA-256", StringComparison.Ordinal));
        Assert.Contains("missing m/tokenizer.json", result.Problems);
        Assert.Equal(2, result.Problems.Count);
    }

    [Fact]
    public async Task Verify_WithoutManifest_SaysSo()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel();
        await model.UploadWithoutManifestAsync(storage.Container, "plain/");

        var result = await ModelUploader.VerifyAsync(storage.Container, "plain/");

        Assert.False(result.HasManifest);
        Assert.Contains(result.Problems, p => p.Contains("no plain/manifest.json", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Upload_OfAnIncompleteFolder_NamesTheMissingFile_AndUploadsNothing()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel(withDecoder: false);

        var e = await Assert.ThrowsAsync<ModelFileMissingException>(() => ModelUploader.UploadAsync(model.Directory, storage.Container, "x/"));

        Assert.EndsWith("decoder_model_merged.onnx", e.MissingPath);
        Assert.False(await storage.Container.ExistsAsync());
    }

    [Fact]
    public async Task ReUpload_KeepsUnchangedBlobs_AndWritesTheManifestLast()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel();
        await ModelUploader.UploadAsync(model.Directory, storage.Container, "p/");
        var before = (await storage.Container.GetBlobClient("p/decoder_model_merged.onnx").GetPropertiesAsync()).Value.ETag;
        model.Write("config.json", System.Text.Encoding.UTF8.GetBytes("""{"model_type":"t5","v":2}"""));

        await ModelUploader.UploadAsync(model.Directory, storage.Container, "p/");

        var after = (await storage.Container.GetBlobClient("p/decoder_model_merged.onnx").GetPropertiesAsync()).Value.ETag;
        Assert.Equal(before, after);
        var manifestModified = (await storage.Container.GetBlobClient("p/manifest.json").GetPropertiesAsync()).Value.LastModified;
        var configModified = (await storage.Container.GetBlobClient("p/config.json").GetPropertiesAsync()).Value.LastModified;
        Assert.True(manifestModified >= configModified);
        Assert.True((await ModelUploader.VerifyAsync(storage.Container, "p/")).IsValid);
    }
}

public sealed class ModelLayoutTests
{
    [Theory]
    [InlineData("config.json,spiece.model,encoder_model.onnx,decoder_model_merged.onnx", null)]
    [InlineData("config.json,spiece.model,onnx/encoder_model.onnx,onnx/decoder_model.onnx,onnx/decoder_with_past_model.onnx", null)]
    [InlineData("config.json,spiece.model,encoder_model.onnx", "decoder_model_merged.onnx")]
    [InlineData("config.json,spiece.model,onnx/encoder_model.onnx,onnx/decoder_with_past_model.onnx", "onnx/decoder_model.onnx")]
    [InlineData("config.json,spiece.model,encoder_model.onnx,decoder_model.onnx", "decoder_with_past_model.onnx")]
    [InlineData("spiece.model,encoder_model.onnx,decoder_model_merged.onnx", "config.json")]
    [InlineData("config.json,encoder_model.onnx,decoder_model_merged.onnx", "spiece.model")]
    [InlineData("config.json,spiece.model,decoder_model_merged.onnx", "encoder_model.onnx")]
    public void FindMissing_NamesTheFirstRequiredFileAbsent(string files, string? expected) =>
        Assert.Equal(expected, ModelLayout.FindMissing(files.Split(',')));

    [Fact]
    public void FindMissing_Quantized_WantsTheQuantizedGraphs()
    {
        string[] fp32 = ["config.json", "spiece.model", "encoder_model.onnx", "decoder_model_merged.onnx"];
        Assert.Equal("encoder_model_quantized.onnx", ModelLayout.FindMissing(fp32, useQuantized: true));
        Assert.Null(ModelLayout.FindMissing(["config.json", "spiece.model", "encoder_model_quantized.onnx", "decoder_model_merged_quantized.onnx"], true));
    }

    [Fact]
    public void SelectFiles_PrefersTheMergedDecoder_AndThePrecisionAsked()
    {
        string[] export =
        [
            "config.json", "spiece.model", "README.md", "onnx/encoder_model.onnx", "onnx/encoder_model_quantized.onnx",
            "onnx/decoder_model.onnx", "onnx/decoder_model.onnx_data", "onnx/decoder_with_past_model.onnx",
            "onnx/decoder_model_merged.onnx", "onnx/decoder_model_merged.onnx_data", "onnx/decoder_model_merged_quantized.onnx",
        ];
        Assert.Equal(["config.json", "spiece.model", "onnx/encoder_model.onnx", "onnx/decoder_model_merged.onnx", "onnx/decoder_model_merged.onnx_data"],
            ModelLayout.SelectFiles(export));
        Assert.Equal(["config.json", "spiece.model", "onnx/encoder_model_quantized.onnx", "onnx/decoder_model_merged_quantized.onnx"],
            ModelLayout.SelectFiles(export, useQuantized: true));
        string[] split = ["config.json", "spiece.model", "encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx"];
        Assert.Equal(split, ModelLayout.SelectFiles(split));
    }

    [Theory]
    [InlineData("config.json", true)]
    [InlineData("onnx/encoder_model.onnx", true)]
    [InlineData("onnx/decoder_model_merged.onnx_data", true)]
    [InlineData("README.md", false)]
    [InlineData("v2/config.json", false)]
    [InlineData("onnx/x/encoder_model.onnx", false)]
    [InlineData("manifest.json", false)]
    public void IsModelFile(string path, bool expected) => Assert.Equal(expected, ModelLayout.IsModelFile(path));
}

public sealed class ModelStorageTests
{
    private static Func<string, string?> Settings(params (string Key, string Value)[] pairs)
    {
        var d = pairs.ToDictionary(p => p.Key, p => p.Value);
        return k => d.GetValueOrDefault(k);
    }

    [Fact]
    public void DevelopmentStorage_FromAzureWebJobsStorage_WithDefaults()
    {
        var settings = Settings(("AzureWebJobsStorage", "UseDevelopmentStorage=true"));
        var container = ModelStorage.CreateContainerClient(settings);
        var options = ModelStorage.ReadOptions(settings);

        Assert.Equal("models", container.Name);
        Assert.Equal("devstoreaccount1", container.AccountName);
        Assert.Equal("flan-t5-small/", options.Prefix);
        Assert.Null(options.RefreshInterval);
    }

    [Fact]
    public void ModelSettings_NameTheConnection_AndTheLocation_InEitherSeparator()
    {
        var settings = Settings(
            ("Model__Connection", "ModelStorage"), ("ModelStorage", "UseDevelopmentStorage=true"),
            ("Model:Container", "weights"), ("Model__Prefix", "flan-t5-small/v2"), ("Model__UseQuantized", "true"),
            ("Model__RefreshMinutes", "5"), ("Model__CacheDirectory", "/tmp/x"));
        var container = ModelStorage.CreateContainerClient(settings);
        var options = ModelStorage.ReadOptions(settings);

        Assert.Equal("weights", container.Name);
        Assert.Equal("flan-t5-small/v2", options.Prefix);
        Assert.Equal("flan-t5-small/v2/", options.NormalizedPrefix);
        Assert.True(options.UseQuantized);
        Assert.Equal(TimeSpan.FromMinutes(5), options.RefreshInterval);
        Assert.Equal("/tmp/x", options.CacheDirectory);
    }

    [Theory]
    [InlineData("blobServiceUri", "https://acct.blob.core.windows.net/")]
    [InlineData("serviceUri", "https://acct.blob.core.windows.net/")]
    public void IdentityBasedConnection_UsesTheServiceUri(string key, string uri)
    {
        var settings = Settings(($"AzureWebJobsStorage__{key}", uri), ("AzureWebJobsStorage__credential", "managedidentity"),
            ("AzureWebJobsStorage__clientId", "00000000-0000-0000-0000-000000000001"));
        var container = ModelStorage.CreateContainerClient(settings);

        Assert.Equal("acct", container.AccountName);
        Assert.Equal("https://acct.blob.core.windows.net/models", container.Uri.ToString());
        Assert.False(container.CanGenerateSasUri); // token credential, no key
    }

    [Fact]
    public void NoConnection_SaysWhichSettingsToSet()
    {
        var e = Assert.Throws<InvalidOperationException>(() => ModelStorage.CreateContainerClient(Settings()));
        Assert.Contains("AzureWebJobsStorage__blobServiceUri", e.Message);
    }

    [Fact]
    public void DefaultCacheDirectory_IsUnderTemp_ByAccountContainerAndPrefix()
    {
        var dir = ModelProvider<HashedModel>.DefaultCacheDirectory("acct", "models", "flan-t5-small/v2/");
        Assert.Equal(Path.Combine(Path.GetTempPath(), "serverless-models", "acct", "models", "flan-t5-small", "v2"), dir);
    }

    [Fact]
    public void ManifestParse_RejectsBadEntries()
    {
        Assert.ThrowsAny<JsonException>(() => ModelManifest.Parse("not json"u8));
        Assert.Throws<FormatException>(() => ModelManifest.Parse("""{"format":1,"files":[{"name":"../x","size":1,"sha256":"00"}]}"""u8));
        Assert.Throws<FormatException>(() => ModelManifest.Parse("""{"format":2,"files":[]}"""u8));
    }
}
