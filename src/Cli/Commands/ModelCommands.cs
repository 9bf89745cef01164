using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Storage.Blobs;
using Serverless.Inference.Generation;
using Serverless.Inference.Model;
using Serverless.ModelStore;

namespace Serverless.Cli.Commands;

/// <summary><c>model upload | verify | list | bench | add-decoder-mask</c>: put the ONNX export into Blob Storage and check it.</summary>
internal static class ModelCommands
{
    public static Command Create() => new("model", "Upload, verify, list and benchmark the model in Blob Storage.")
    {
        Upload(), Verify(), List(), Bench(), DecoderMaskCommand.Create(),
    };

    private static Option<string> ContainerOption()
    {
        var option = new Option<string>("--container")
        {
            Description = "The blob container holding model versions.",
            DefaultValueFactory = _ => ModelStoreOptions.DefaultContainer,
        };
        option.Validators.Add(r => { if (ModelStoreNames.ContainerNameError(r.GetValueOrDefault<string>()) is { } e) r.AddError("--container: " + e); });
        return option;
    }

    private static Option<string> PrefixOption()
    {
        var option = new Option<string>("--prefix")
        {
            Description = "The model version's prefix (a version is just another prefix).",
            DefaultValueFactory = _ => ModelStoreOptions.DefaultPrefix,
        };
        option.Validators.Add(r => { if (ModelStoreNames.PrefixError(r.GetValueOrDefault<string>()) is { } e) r.AddError("--prefix: " + e); });
        return option;
    }

    private static Option<string?> ConnectionOption() => JobCommands.ConnectionOption(
        "Storage connection string, or a blob service URI (then your Azure sign-in is used).");

    private static BlobContainerClient Container(ParseResult parse, Option<string?> connectionOption, Option<string> containerOption)
    {
        var connection = JobCommands.ResolveConnection(parse, connectionOption);
        try
        {
            // Model files are large: the model transfer's patient tries, as in the app.
            return StorageConnection.FromArgument(connection).CreateBlobServiceClient(StorageRetry.ModelTransfer).GetBlobContainerClient(parse.GetValue(containerOption)!);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            // The SDK's message does not say which input it could not read.
            throw new ArgumentException($"--connection is neither a storage connection string nor an http(s) blob service URI ({e.Message.TrimEnd('.')}).", e);
        }
    }

    /// <summary>Where a container is, for messages: its URI without a SAS.</summary>
    private static string Where(BlobContainerClient client) => SecretMasker.Redact(client.Uri.GetLeftPart(UriPartial.Path))!;

    private static Command Upload()
    {
        var dir = new Argument<string>("DIR") { Description = "An Optimum ONNX export folder (files at the top or under onnx/; symbolic links are followed)." };
        var all = new Option<bool>("--all")
        {
            Description = "Upload every file of the folder, not only the ones the engine and tokenizer use (skipped files are listed on stderr).",
        };
        var (container, prefix, connection) = (ContainerOption(), PrefixOption(), ConnectionOption());
        var command = new Command("upload",
            "Upload a model export folder (each graph's weights stored as external data, <graph>.onnx_data) and write its manifest (names, sizes, SHA-256) last.")
        {
            dir, container, prefix, connection, all,
        };
        command.SetAction((parse, ct) => CommandGuard.RunAsync(async () =>
        {
            var client = Container(parse, connection, container);
            var plan = ModelUploader.Plan(parse.GetValue(dir)!, parse.GetValue(all));
            if (plan.Skipped.Count > 0)
                Console.Error.WriteLine($"skipped {plan.Skipped.Count} file(s) the engine does not use (--all uploads them): {string.Join(", ", plan.Skipped)}");
            var stopwatch = Stopwatch.StartNew();
            var manifest = await ModelUploader.UploadAsync(plan, client, parse.GetValue(prefix)!, new ConsoleProgress("upload"), ct);
            var bytes = manifest.Files.Sum(f => f.Size);
            Console.WriteLine($"Uploaded {manifest.Files.Count} files ({Mb(bytes)}) to {Where(client)}/{parse.GetValue(prefix)!.Trim('/')}/ " +
                $"in {stopwatch.Elapsed.TotalSeconds:0.0} s; manifest written.");
            var dataFiles = manifest.Files.Select(f => f.Name).Except(plan.Files).ToList();
            if (dataFiles.Count > 0)
            {
                // A Hugging Face snapshot's files are links: their own length is not the file's.
                var exported = plan.Files.Select(f => new FileInfo(Path.Combine(plan.Root, f)))
                    .Sum(file => file.LinkTarget is null ? file.Length : ((FileInfo)file.ResolveLinkTarget(returnFinalTarget: true)!).Length);
                Console.WriteLine($"Stored the graphs' weights as external data, each distinct tensor once ({string.Join(", ", dataFiles)}): " +
                    $"{Mb(bytes)} instead of the export's {Mb(exported)}, and ONNX Runtime opens the graphs about three times faster.");
            }
            return 0;
        }));
        return command;
    }

    private static Command Verify()
    {
        var (container, prefix, connection) = (ContainerOption(), PrefixOption(), ConnectionOption());
        var json = JobCommands.JsonOption("the result ({prefix, valid, files_checked, bytes_checked, problems})");
        var command = new Command("verify", "Download every file of a model version and check it against the manifest.") { container, prefix, connection, json };
        command.SetAction((parse, ct) => CommandGuard.RunAsync(async () =>
        {
            var client = Container(parse, connection, container);
            var result = await ModelUploader.VerifyAsync(client, parse.GetValue(prefix)!, parse.GetValue(json) ? null : new ConsoleProgress("verify"), ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(new JsonObject
                {
                    ["prefix"] = result.Prefix,
                    ["valid"] = result.IsValid,
                    ["has_manifest"] = result.HasManifest,
                    ["files_checked"] = result.FilesChecked,
                    ["bytes_checked"] = result.BytesChecked,
                    ["problems"] = new JsonArray([.. result.Problems.Select(p => JsonValue.Create(p))]),
                }.ToJsonString(JobCommands.Indented));
                return result.IsValid ? 0 : 1;
            }
            foreach (var problem in result.Problems) Console.WriteLine($"  problem: {problem}");
            Console.WriteLine(result.IsValid
                ? $"OK: {result.FilesChecked} files ({Mb(result.BytesChecked)}) under {result.Prefix} match the manifest."
                : $"FAILED: {result.Problems.Count} problem(s) under {result.Prefix}. Re-upload with: serverless model upload <export-dir> --prefix {result.Prefix}");
            return result.IsValid ? 0 : 1;
        }));
        return command;
    }

    private static Command List()
    {
        var (container, connection) = (ContainerOption(), ConnectionOption());
        var json = JobCommands.JsonOption("the versions ([{prefix, files, bytes, manifest, modified}])");
        var command = new Command("list", "Show the model versions (prefixes) in the container, with file count (the manifest aside, as verify counts) and size.")
        {
            container, connection, json,
        };
        command.SetAction((parse, ct) => CommandGuard.RunAsync(async () =>
        {
            var client = Container(parse, connection, container);
            var versions = await ModelUploader.ListAsync(client, ct);
            // The manifest lists the model's files; it is not one of them (verify checks FilesChecked = the manifest's entries).
            static int ModelFiles(ModelVersionInfo v) => v.FileCount - (v.HasManifest ? 1 : 0);
            if (parse.GetValue(json))
            {
                Console.WriteLine(new JsonArray([.. versions.Select(v => (JsonNode)new JsonObject
                {
                    ["prefix"] = v.Prefix,
                    ["files"] = ModelFiles(v),
                    ["bytes"] = v.TotalBytes,
                    ["manifest"] = v.HasManifest,
                    ["modified"] = v.LastModified,
                })]).ToJsonString(JobCommands.Indented));
                return 0;
            }
            if (versions.Count == 0)
            {
                Console.WriteLine($"Container '{client.Name}' is empty.");
                return 0;
            }
            Console.WriteLine($"{"PREFIX",-40} {"FILES",5} {"SIZE",12} {"MANIFEST",8}  MODIFIED (UTC)");
            foreach (var v in versions)
                Console.WriteLine($"{(v.Prefix.Length == 0 ? "(root)" : v.Prefix),-40} {ModelFiles(v),5} {Mb(v.TotalBytes),12} {(v.HasManifest ? "yes" : "no"),8}  {v.LastModified:yyyy-MM-dd HH:mm}");
            return 0;
        }));
        return command;
    }

    private static Command Bench()
    {
        // --model as in complete and bench; --model-dir, its first name, still works (hidden from help).
        var modelDir = new Option<string?>("--model") { Description = "A model export folder to upload and load." };
        var modelDirAlias = new Option<string?>("--model-dir") { Hidden = true };
        var runs = new Option<int>("--runs") { Description = "Cold and warm starts measured (the median is reported).", DefaultValueFactory = _ => 3 };
        var threads = InferenceCommands.ThreadsOption();
        var quantized = InferenceCommands.QuantizedOption();
        var trustCache = new Option<bool>("--trust-cache")
        {
            Description = "Warm starts trust cached files whose size and write time are unchanged instead of re-hashing them (Model VerifyCachedFiles=false).",
        };
        var (container, connection) = (ContainerOption(), ConnectionOption());
        container.DefaultValueFactory = _ => "models-bench";
        var command = new Command("bench",
            "Upload a model under a fresh prefix, then measure cold start (empty cache: download + load + first token) and " +
            "warm start (cached files verified + load + first token).")
        {
            modelDir, modelDirAlias, runs, threads, quantized, trustCache, container, connection,
        };
        command.Validators.Add(r =>
        {
            if (r.GetValue(runs) < 1) r.AddError("--runs must be at least 1.");
            if ((r.GetValue(modelDir) is null) == (r.GetValue(modelDirAlias) is null)) r.AddError("Option '--model' is required.");
        });
        command.SetAction((parse, ct) => CommandGuard.RunAsync(() =>
        {
            var client = Container(parse, connection, container);
            var folder = parse.GetValue(modelDir) ?? parse.GetValue(modelDirAlias)!;
            return ModelBench.RunAsync(client, folder, parse.GetValue(runs), parse.GetValue(threads), !parse.GetValue(trustCache), ct,
                QuantizedFolder.Use(folder, parse.GetValue(quantized)));
        }));
        return command;
    }

    internal static string Mb(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e6:0.0} MB");
}

/// <summary>
/// A one-line text progress bar on stderr (as az and tqdm draw theirs: stdout stays for results), redrawn with a
/// carriage return at most ten times a second.
/// </summary>
internal sealed class ConsoleProgress(string label) : IProgress<ModelTransferProgress>
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly object _gate = new();
    private long _lastDraw = -1;
    private bool _done;

    public void Report(ModelTransferProgress value)
    {
        lock (_gate)
        {
            if (_done) return;
            var finished = value.TotalFiles > 0 && value.FilesCompleted == value.TotalFiles;
            var now = _clock.ElapsedMilliseconds;
            if (!finished && _lastDraw >= 0 && now - _lastDraw < 100) return;
            _lastDraw = now;
            // Redirected output gets the final line only: carriage returns would make a log unreadable.
            if (Console.IsErrorRedirected && !finished) return;
            var fraction = value.TotalBytes > 0 ? (double)value.BytesTransferred / value.TotalBytes : 1;
            var filled = (int)Math.Round(fraction * 30);
            var rate = value.BytesTransferred / 1e6 / Math.Max(0.001, _clock.Elapsed.TotalSeconds);
            Console.Error.Write(string.Create(CultureInfo.InvariantCulture,
                $"\r{label} [{new string('#', filled)}{new string('-', 30 - filled)}] {fraction * 100,5:0.0}% " +
                $"{value.BytesTransferred / 1e6,8:0.0}/{value.TotalBytes / 1e6:0.0} MB  {value.FilesCompleted}/{value.TotalFiles} files  {rate,6:0.0} MB/s "));
            if (finished)
            {
                Console.Error.WriteLine();
                _done = true;
            }
        }
    }
}

/// <summary>
/// <c>serverless model bench</c>: cold and warm start of the model from Blob Storage. A benchmark program: it prints figures.
/// </summary>
internal static class ModelBench
{
    private sealed record Run(string Kind, TimeSpan Acquire, TimeSpan? FirstToken, ModelLoadInfo Load);

    public static async Task<int> RunAsync(BlobContainerClient container, string modelDir, int runs, int threads, bool verifyCache, CancellationToken ct, bool quantized = false)
    {
        var prefix = $"bench-{Guid.NewGuid():N}"[..14] + "/";
        var benchRoot = Path.Combine(Path.GetTempPath(), "serverless-model-bench", prefix.TrimEnd('/'));
        Console.WriteLine($"Uploading {modelDir} to {SecretMasker.Redact(container.Uri.GetLeftPart(UriPartial.Path))}/{prefix} ...");
        var upload = Stopwatch.StartNew();
        var manifest = await ModelUploader.UploadAsync(modelDir, container, prefix, new ConsoleProgress("upload"), ct);
        var bytes = manifest.Files.Sum(f => f.Size);
        Console.WriteLine($"Uploaded {manifest.Files.Count} files, {ModelCommands.Mb(bytes)}, in {upload.Elapsed.TotalSeconds:0.00} s.");
        try
        {
            var results = new List<Run>();
            for (var i = 0; i < runs; i++)
            {
                var cache = Path.Combine(benchRoot, $"run{i}");
                results.Add(await MeasureAsync("cold", container, prefix, cache, threads, verifyCache, quantized, ct));
                results.Add(await MeasureAsync("warm", container, prefix, cache, threads, verifyCache, quantized, ct));
                foreach (var r in results.TakeLast(2)) Print(r);
            }

            Console.WriteLine();
            Console.WriteLine($"Median of {runs} (model {ModelCommands.Mb(bytes)}, {Environment.ProcessorCount} cores, " +
                $"warm start {(verifyCache ? "re-hashes cached files beside the load" : "trusts unchanged cached files")}):");
            foreach (var kind in new[] { "cold", "warm" })
            {
                var rs = results.Where(r => r.Kind == kind).ToList();
                var total = Median(rs.Select(r => (r.FirstToken ?? r.Acquire).TotalSeconds));
                var sync = Median(rs.Select(r => r.Load.SyncDuration.TotalSeconds));
                var load = Median(rs.Select(r => r.Load.LoadDuration.TotalSeconds));
                var line = string.Create(CultureInfo.InvariantCulture,
                    $"  {kind}: {total:0.00} s to {(rs[0].FirstToken is null ? "loaded (no first token)" : "first token")} " +
                    $"(fetch+verify {sync:0.00} s, load {load:0.00} s)");
                if (kind == "cold")
                    line += string.Create(CultureInfo.InvariantCulture, $", download {Median(rs.Select(r => r.Load.BytesDownloaded / 1e6 / r.Load.SyncDuration.TotalSeconds)):0} MB/s");
                Console.WriteLine(line);
            }
            return 0;
        }
        finally
        {
            // Azurite keeps blobs in memory: leave nothing behind.
            await foreach (var blob in container.GetBlobsAsync(new Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = prefix }, CancellationToken.None))
                await container.DeleteBlobIfExistsAsync(blob.Name, cancellationToken: CancellationToken.None);
            try { Directory.Delete(benchRoot, recursive: true); } catch (IOException) { }
        }
    }

    private static async Task<Run> MeasureAsync(
        string kind, BlobContainerClient container, string prefix, string cache, int threads, bool verifyCache, bool quantized, CancellationToken ct)
    {
        var stopwatch = Stopwatch.StartNew();
        using var provider = ModelProvider.ForT5(container, new ModelStoreOptions { Prefix = prefix, CacheDirectory = cache, VerifyCachedFiles = verifyCache, UseQuantized = quantized },
            new ModelOptions { IntraOpThreads = threads, UseQuantized = quantized });
        using var lease = await provider.AcquireAsync(ct);
        var acquired = stopwatch.Elapsed;
        await lease.Model.GenerateAsync(["translate English to German: How old are you?"], new GenerationOptions { MaxNewTokens = 1 }, ct);
        return new Run(kind, acquired, stopwatch.Elapsed, provider.LastLoad!);
    }

    private static void Print(Run r) => Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"  {r.Kind}: first token {r.FirstToken?.TotalSeconds:0.00} s, loaded {r.Acquire.TotalSeconds:0.00} s " +
        $"(fetch+verify {r.Load.SyncDuration.TotalSeconds:0.00} s: {r.Load.FilesDownloaded} downloaded, {r.Load.FilesReused} reused, " +
        $"{ModelCommands.Mb(r.Load.BytesDownloaded)}; load {r.Load.LoadDuration.TotalSeconds:0.00} s)"));

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
