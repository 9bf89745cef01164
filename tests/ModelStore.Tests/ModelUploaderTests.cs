using System.Text.Json;
using Serverless.Inference.Generation;
using Serverless.Inference.Model;

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
    public async Task Upload_StoresTheGraphsWeightsAsExternalDataOnce_AndTheCopyGeneratesAsTheExportDoes()
    {
        await using var storage = new TestStorage();
        var export = Path.Combine(AppContext.BaseDirectory, "Models", "demo");
        var before = Directory.GetFiles(export).ToDictionary(f => f, File.ReadAllBytes);

        var manifest = await ModelUploader.UploadAsync(export, storage.Container, "demo/");

        // The split pair is uploaded (not the merged decoder), the graphs' weights beside them, each distinct tensor once:
        // the with-past decoder's weights are all in the first decoder's file, and the encoder shares the embedding there.
        // The export is untouched.
        string[] graphs = ["decoder_model.onnx", "decoder_with_past_model.onnx", "encoder_model.onnx"];
        Assert.Equal(graphs.Concat(["config.json", "decoder_model.onnx_data", "encoder_model.onnx_data", "generation_config.json", "spiece.model"]).Order(StringComparer.Ordinal),
            manifest.Files.Select(f => f.Name).Order(StringComparer.Ordinal));
        Assert.All(before, file => Assert.Equal(file.Value, File.ReadAllBytes(file.Key)));
        var copy = storage.NewCacheDirectory();
        Directory.CreateDirectory(copy);
        foreach (var file in manifest.Files)
            await storage.Container.GetBlobClient("demo/" + file.Name).DownloadToAsync(Path.Combine(copy, file.Name));
        Assert.Equal(["decoder_model.onnx_data"], OnnxExternalData.ReadLocations(Path.Combine(copy, "decoder_model.onnx")));
        Assert.Equal(["decoder_model.onnx_data"], OnnxExternalData.ReadLocations(Path.Combine(copy, "decoder_with_past_model.onnx")));
        Assert.Equal(["decoder_model.onnx_data", "encoder_model.onnx_data"], OnnxExternalData.ReadLocations(Path.Combine(copy, "encoder_model.onnx")).Order(StringComparer.Ordinal));
        var exported = graphs.Sum(g => new FileInfo(Path.Combine(export, g)).Length);
        var uploaded = manifest.Files.Where(f => f.Name.Contains(".onnx", StringComparison.Ordinal)).Sum(f => f.Size);
        Assert.True(uploaded < exported * 0.6, $"{uploaded} bytes of graphs uploaded for {exported} exported");

        using var original = T5Model.Load(export);
        using var fromUpload = T5Model.Load(copy);
        Assert.True(fromUpload.CanJoinRunningBatch, fromUpload.JoinUnavailableReason);
        int[][] prompts = [[27, 7, 4, 754, 73, 1], [44, 1], [5, 90, 91, 92, 93, 94, 95, 96, 97, 98, 1]];
        var options = new GenerationOptions { MaxNewTokens = 12, MinNewTokens = 12 };
        var expected = await original.GenerateAsync(prompts, options);
        var actual = await fromUpload.GenerateAsync(prompts, options);
        Assert.Equal(expected.Select(r => r.OutputIds), actual.Select(r => r.OutputIds));

        // Staging is deterministic: uploading the same export again leaves every blob as it is (the caches stay valid).
        var etags = await ETagsAsync(storage.Container, "demo/");
        await ModelUploader.UploadAsync(export, storage.Container, "demo/");
        var again = await ETagsAsync(storage.Container, "demo/");
        Assert.Equal(etags.Where(e => e.Key != "demo/manifest.json"), again.Where(e => e.Key != "demo/manifest.json"));
    }

    [Fact]
    public async Task Upload_OfAMergedDecoderExport_SharesTheEncodersWeights_AndTheCopyGeneratesAsTheExportDoes()
    {
        await using var storage = new TestStorage();
        var export = storage.NewCacheDirectory();
        Directory.CreateDirectory(export);
        foreach (var file in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Models", "demo")))
        {
            if (Path.GetFileName(file) is not ("decoder_model.onnx" or "decoder_with_past_model.onnx"))
                File.Copy(file, Path.Combine(export, Path.GetFileName(file)));
        }

        var manifest = await ModelUploader.UploadAsync(export, storage.Container, "merged/");

        var copy = storage.NewCacheDirectory();
        Directory.CreateDirectory(copy);
        foreach (var file in manifest.Files)
            await storage.Container.GetBlobClient("merged/" + file.Name).DownloadToAsync(Path.Combine(copy, file.Name));
        // The encoder is saved first; the merged decoder reuses its embedding and keeps the rest in a file of its own.
        Assert.Equal(["decoder_model_merged.onnx_data", "encoder_model.onnx_data"],
            OnnxExternalData.ReadLocations(Path.Combine(copy, "decoder_model_merged.onnx")).Order(StringComparer.Ordinal));
        using var original = T5Model.Load(export);
        using var fromUpload = T5Model.Load(copy);
        Assert.True(fromUpload.CanJoinRunningBatch, fromUpload.JoinUnavailableReason);
        var options = new GenerationOptions { MaxNewTokens = 12, MinNewTokens = 12 };
        int[][] prompts = [[27, 7, 4, 754, 73, 1], [44, 1]];
        Assert.Equal((await original.GenerateAsync(prompts, options)).Select(r => r.OutputIds), (await fromUpload.GenerateAsync(prompts, options)).Select(r => r.OutputIds));
    }

    private static async Task<Dictionary<string, Azure.ETag>> ETagsAsync(Azure.Storage.Blobs.BlobContainerClient container, string prefix)
    {
        var etags = new Dictionary<string, Azure.ETag>(StringComparer.Ordinal);
        await foreach (var blob in container.GetBlobsAsync(new Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = prefix }))
            etags[blob.Name] = blob.Properties.ETag!.Value;
        return etags;
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
    public async Task Upload_FollowsSymbolicLinks_AsInAHuggingFaceCacheSnapshot()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel();
        // snapshots/<rev>/<name> -> ../../blobs/<sha256>, as the Hugging Face hub cache lays out a download.
        var blobs = Path.Combine(model.Directory, "cache", "blobs");
        var snapshot = Path.Combine(model.Directory, "cache", "snapshots", "rev1");
        Directory.CreateDirectory(blobs);
        Directory.CreateDirectory(snapshot);
        foreach (var (name, sha) in model.Hashes)
        {
            File.Move(Path.Combine(model.Directory, name), Path.Combine(blobs, sha));
            File.CreateSymbolicLink(Path.Combine(snapshot, name), Path.Combine("..", "..", "blobs", sha));
        }

        var manifest = await ModelUploader.UploadAsync(snapshot, storage.Container, "hf/");

        Assert.Equal(model.Hashes.OrderBy(kv => kv.Key, StringComparer.Ordinal), manifest.Files.Select(f => KeyValuePair.Create(f.Name, f.Sha256)));
        foreach (var file in manifest.Files)
            Assert.Equal(new FileInfo(Path.Combine(blobs, file.Sha256)).Length, file.Size);
        Assert.True((await ModelUploader.VerifyAsync(storage.Container, "hf/")).IsValid);
    }

    [Fact]
    public async Task Upload_OfADanglingLink_NamesTheLinkAndItsTarget()
    {
        await using var storage = new TestStorage();
        using var model = new FakeModel();
        File.Delete(Path.Combine(model.Directory, "spiece.model"));
        File.CreateSymbolicLink(Path.Combine(model.Directory, "spiece.model"), "../blobs/gone");

        var e = await Assert.ThrowsAsync<FileNotFoundException>(() => ModelUploader.UploadAsync(model.Directory, storage.Container, "x/"));

        Assert.Contains("spiece.model' is a symbolic link to '../blobs/gone', which does not exist", e.Message, StringComparison.Ordinal);
        Assert.False(await storage.Container.ExistsAsync());
    }

    [Fact]
    public void Plan_TakesWhatTheEngineUses_AndListsTheRest()
    {
        using var model = new FakeModel();
        model.Write("pytorch_model.bin", [1, 2, 3], track: false);
        model.Write("model.safetensors", [1, 2, 3], track: false);

        var plan = ModelUploader.Plan(model.Directory);
        var all = ModelUploader.Plan(model.Directory, includeAll: true);

        Assert.Equal(model.Hashes.Keys.Order(StringComparer.Ordinal), plan.Files);
        Assert.Equal(["README.md", "model.safetensors", "pytorch_model.bin"], plan.Skipped);
        Assert.Equal(plan.Files.Concat(plan.Skipped).Order(StringComparer.Ordinal), all.Files);
        Assert.Empty(all.Skipped);
    }

    [Fact]
    public void Plan_AddsTheExternalDataFilesTheGraphsReference_AndOnlyThose()
    {
        using var model = new FakeModel();
        // The encoder's initializer and a tensor in a node's subgraph (as in the merged decoder's If branches) live in files of their own.
        model.Write("encoder_model.onnx", OnnxWithExternalData("encoder.weights", "branch.weights"));
        model.Write("encoder.weights", [1, 2, 3]);
        model.Write("branch.weights", [4, 5, 6]);
        model.Write("unreferenced.weights", [7], track: false);

        var plan = ModelUploader.Plan(model.Directory);

        Assert.Contains("encoder.weights", plan.Files);
        Assert.Contains("branch.weights", plan.Files);
        Assert.Contains("unreferenced.weights", plan.Skipped);
        Assert.Equal(model.Hashes.Keys.Order(StringComparer.Ordinal), plan.Files);
    }

    [Fact]
    public void Plan_OfAGraphReferencingMissingOrOutsideData_SaysWhich()
    {
        using var model = new FakeModel();
        model.Write("encoder_model.onnx", OnnxWithExternalData("gone.weights", null));
        var missing = Assert.Throws<FileNotFoundException>(() => ModelUploader.Plan(model.Directory));
        Assert.Contains("'encoder_model.onnx' references external data 'gone.weights', which is not in the model folder", missing.Message, StringComparison.Ordinal);

        model.Write("encoder_model.onnx", OnnxWithExternalData("../elsewhere.weights", null));
        var outside = Assert.Throws<InvalidDataException>(() => ModelUploader.Plan(model.Directory));
        Assert.Contains("outside the model folder", outside.Message, StringComparison.Ordinal);
    }

    /// <summary>A ModelProto (onnx.proto field numbers) whose graph has an initializer stored in <paramref name="location"/>
    /// and, optionally, a node whose subgraph attribute has one stored in <paramref name="subgraphLocation"/>.</summary>
    private static byte[] OnnxWithExternalData(string location, string? subgraphLocation)
    {
        static byte[] Varint(ulong v)
        {
            var bytes = new List<byte>();
            do { bytes.Add((byte)((v & 0x7F) | (v > 0x7F ? 0x80u : 0))); v >>= 7; } while (v != 0);
            return [.. bytes];
        }
        static byte[] Field(int number, byte[] content) => [.. Varint((ulong)(number << 3 | 2)), .. Varint((ulong)content.Length), .. content];
        static byte[] Text(int number, string text) => Field(number, System.Text.Encoding.UTF8.GetBytes(text));
        static byte[] Tensor(string name, string where) =>
        [
            .. Text(1, name), .. Varint(14 << 3), .. Varint(1), // data_location = EXTERNAL
            .. Field(13, [.. Text(1, "location"), .. Text(2, where)]), .. Field(13, [.. Text(1, "offset"), .. Text(2, "0")]),
            .. Field(9, new byte[64]), // raw_data of another tensor kind, skipped unread
        ];

        byte[] graph = [.. Text(2, "main"), .. Field(5, Tensor("w", location))];
        if (subgraphLocation is not null)
            graph = [.. graph, .. Field(1, [.. Text(4, "If"), .. Field(5, [.. Text(1, "then_branch"), .. Field(6, Field(5, Tensor("b", subgraphLocation)))])])];
        return [.. Varint(1 << 3), .. Varint(8), .. Field(7, graph)]; // ir_version 8, graph
    }

    [Fact]
    public async Task List_OfAnInvalidContainerName_IsAPermanentRejection_NotTransient()
    {
        await using var storage = new TestStorage();
        var bad = storage.Service.GetBlobContainerClient("Bad_Name");

        var e = await Assert.ThrowsAsync<ModelStoreRequestRejectedException>(() => ModelUploader.ListAsync(bad));

        Assert.False(e.IsTransient);
        Assert.Equal(400, e.Status);
        Assert.Contains("Bad_Name", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Re_upload_keeps_unchanged_blobs_and_writes_the_manifest_last()
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
    public void Find_missing_names_the_first_required_file_absent(string files, string? expected) =>
        Assert.Equal(expected, ModelLayout.FindMissing(files.Split(',')));

    [Fact]
    public void Find_missing_quantized_wants_the_quantized_graphs()
    {
        string[] fp32 = ["config.json", "spiece.model", "encoder_model.onnx", "decoder_model_merged.onnx"];
        Assert.Equal("encoder_model_quantized.onnx", ModelLayout.FindMissing(fp32, useQuantized: true));
        Assert.Null(ModelLayout.FindMissing(["config.json", "spiece.model", "encoder_model_quantized.onnx", "decoder_model_merged_quantized.onnx"], true));
    }

    [Fact]
    public void Select_files_prefers_the_split_decoders_and_the_precision_asked()
    {
        string[] export =
        [
            "config.json", "spiece.model", "README.md", "onnx/encoder_model.onnx", "onnx/encoder_model_quantized.onnx",
            "onnx/decoder_model.onnx", "onnx/decoder_model.onnx_data", "onnx/decoder_with_past_model.onnx",
            "onnx/decoder_model_merged.onnx", "onnx/decoder_model_merged.onnx_data", "onnx/decoder_model_merged_quantized.onnx",
        ];
        Assert.Equal(["config.json", "spiece.model", "onnx/encoder_model.onnx", "onnx/decoder_model.onnx", "onnx/decoder_model.onnx_data",
                "onnx/decoder_with_past_model.onnx"],
            ModelLayout.SelectFiles(export));
        Assert.Equal(["config.json", "spiece.model", "onnx/encoder_model_quantized.onnx", "onnx/decoder_model_merged_quantized.onnx"],
            ModelLayout.SelectFiles(export, useQuantized: true));
        string[] split = ["config.json", "spiece.model", "encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx"];
        Assert.Equal(split, ModelLayout.SelectFiles(split));
        string[] merged = ["config.json", "spiece.model", "encoder_model.onnx", "decoder_model.onnx", "decoder_model_merged.onnx"];
        Assert.Equal(merged, ModelLayout.SelectFiles(merged));
    }

    [Fact]
    public void Select_for_upload_takes_the_layout_the_engine_loads_in_each_precision_with_external_data()
    {
        string[] export =
        [
            "config.json", "generation_config.json", "spiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
            "pytorch_model.bin", "model.safetensors", "flax_model.msgpack", "README.md", "onnx/encoder_model.onnx",
            "onnx/encoder_model_quantized.onnx", "onnx/encoder_model_fp16.onnx", "onnx/decoder_model.onnx", "onnx/decoder_with_past_model.onnx",
            "onnx/decoder_model_merged.onnx", "onnx/decoder_model_merged.onnx_data", "onnx/decoder_model_quantized.onnx",
            "onnx/decoder_with_past_model_quantized.onnx",
        ];

        Assert.Equal(
            [
                "config.json", "generation_config.json", "spiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                "onnx/encoder_model.onnx", "onnx/encoder_model_quantized.onnx", "onnx/decoder_model.onnx",
                "onnx/decoder_with_past_model.onnx", "onnx/decoder_model_quantized.onnx", "onnx/decoder_with_past_model_quantized.onnx",
            ],
            ModelLayout.SelectForUpload(export));
    }

    [Theory]
    [InlineData("config.json", true)]
    [InlineData("onnx/encoder_model.onnx", true)]
    [InlineData("onnx/decoder_model_merged.onnx_data", true)]
    [InlineData("README.md", false)]
    [InlineData("v2/config.json", false)]
    [InlineData("onnx/x/encoder_model.onnx", false)]
    [InlineData("manifest.json", false)]
    public void Is_model_file(string path, bool expected) => Assert.Equal(expected, ModelLayout.IsModelFile(path));
}

public sealed class ModelStorageTests
{
    private static Func<string, string?> Settings(params (string Key, string Value)[] pairs)
    {
        var d = pairs.ToDictionary(p => p.Key, p => p.Value);
        return k => d.GetValueOrDefault(k);
    }

    [Fact]
    public void Development_storage_from_azure_web_jobs_storage_with_defaults()
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
    public void Model_settings_name_the_connection_and_the_location_in_either_separator()
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
    public void Identity_based_connection_uses_the_service_uri(string key, string uri)
    {
        var settings = Settings(($"AzureWebJobsStorage__{key}", uri), ("AzureWebJobsStorage__credential", "managedidentity"),
            ("AzureWebJobsStorage__clientId", "00000000-0000-0000-0000-000000000001"));
        var container = ModelStorage.CreateContainerClient(settings);

        Assert.Equal("acct", container.AccountName);
        Assert.Equal("https://acct.blob.core.windows.net/models", container.Uri.ToString());
        Assert.False(container.CanGenerateSasUri); // token credential, no key
    }

    [Fact]
    public void No_connection_says_which_settings_to_set()
    {
        var e = Assert.Throws<InvalidOperationException>(() => ModelStorage.CreateContainerClient(Settings()));
        Assert.Contains("AzureWebJobsStorage__blobServiceUri", e.Message);
    }

    [Fact]
    public void Default_cache_directory_is_under_temp_by_account_endpoint_container_and_prefix()
    {
        var container = new Azure.Storage.Blobs.BlobContainerClient(new Uri("https://acct.blob.core.windows.net/models"));
        var dir = ModelProvider<HashedModel>.DefaultCacheDirectory(container, "flan-t5-small/v2/");

        var account = Path.GetFileName(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(dir))))!;
        Assert.Matches("^acct-[0-9a-f]{8}$", account);
        Assert.Equal(Path.Combine(Path.GetTempPath(), "serverless-models", account, "models", "flan-t5-small", "v2"), dir);
    }

    [Fact]
    public void Two_endpoints_with_the_same_account_name_do_not_share_a_cache()
    {
        // Two Azurites (or Azurite and a real account called devstoreaccount1): same account, container and prefix.
        const string Key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
        Azure.Storage.Blobs.BlobContainerClient At(string endpoint) => new Azure.Storage.Blobs.BlobServiceClient(
            $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={Key};BlobEndpoint={endpoint};").GetBlobContainerClient("models");
        string CacheOf(Azure.Storage.Blobs.BlobContainerClient c) =>
            new ModelProvider<HashedModel>(c, new ModelStoreOptions(), HashedModel.Load).CacheDirectory;

        var first = At("http://127.0.0.1:10000/devstoreaccount1");
        var second = At("http://127.0.0.1:20000/devstoreaccount1");
        Assert.Equal(first.AccountName, second.AccountName);

        Assert.NotEqual(CacheOf(first), CacheOf(second));
        Assert.Equal(CacheOf(first), CacheOf(At("http://127.0.0.1:10000/devstoreaccount1")));
        Assert.Equal(CacheOf(first), CacheOf(new Azure.Storage.Blobs.BlobServiceClient("UseDevelopmentStorage=true").GetBlobContainerClient("models")));
    }

    [Fact]
    public void Settings_with_a_bad_number_name_the_setting_and_the_accepted_values()
    {
        var settings = Settings(("AzureWebJobsStorage", "UseDevelopmentStorage=true"), ("Inference__IntraOpThreads", "two"));
        var e = Assert.Throws<FormatException>(() => ModelProvider.ForT5(settings));
        Assert.Equal("Setting Inference__IntraOpThreads must be 0 (one thread per core) or a positive number of threads, not 'two'.", e.Message);

        settings = Settings(("AzureWebJobsStorage", "UseDevelopmentStorage=true"), ("Inference:MaxNewTokensCeiling", "0"));
        e = Assert.Throws<FormatException>(() => ModelProvider.ForT5(settings));
        Assert.Equal("Setting Inference__MaxNewTokensCeiling must be a whole number of tokens, at least 1, not '0'.", e.Message);
    }

    [Fact]
    public void Manifest_parse_rejects_bad_entries()
    {
        Assert.ThrowsAny<JsonException>(() => ModelManifest.Parse("not json"u8));
        Assert.Throws<FormatException>(() => ModelManifest.Parse("""{"format":1,"files":[{"name":"../x","size":1,"sha256":"00"}]}"""u8));
        Assert.Throws<FormatException>(() => ModelManifest.Parse("""{"format":2,"files":[]}"""u8));
    }
}
