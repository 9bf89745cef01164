using System.Security.Cryptography;
using System.Text.Json;
using Azure.Storage.Blobs;
using Serverless.Functions.Tests.Infrastructure;

namespace Serverless.Functions.Tests;

/// <summary>
/// <c>serverless</c> run as a process, as a user runs it: what it prints where, its exit codes, and that it never
/// prints a secret. One error style: <c>error: …</c> on stderr, exit 2 for usage errors and 1 for failures.
/// </summary>
public sealed class CliTests
{
    private static string RandomKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(64));

    private static string ConnectionWithKey(string key, int blobPort = 10000, int queuePort = 10001) =>
        $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};" +
        $"BlobEndpoint=http://127.0.0.1:{blobPort}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{queuePort}/devstoreaccount1;";

    private static void AssertNoStackTrace(CliResult r) =>
        Assert.DoesNotContain("   at ", r.Stdout + r.Stderr, StringComparison.Ordinal);

    [Theory]
    [InlineData("model", "upload")]
    [InlineData("model", "verify")]
    [InlineData("model", "list")]
    [InlineData("model", "bench")]
    [InlineData("jobs", "enqueue")]
    public async Task Help_shows_where_the_connection_default_comes_from_never_its_key(string group, string command)
    {
        var key = RandomKey();
        var r = await CliProcess.RunAsync([group, command, "--help"],
            new Dictionary<string, string?> { ["AzureWebJobsStorage"] = ConnectionWithKey(key) });

        Assert.Equal(0, r.ExitCode);
        Assert.DoesNotContain(key, r.Stdout + r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("AccountKey", r.Stdout + r.Stderr, StringComparison.Ordinal);
        Assert.Contains("[default: $AzureWebJobsStorage, else UseDevelopmentStorage=true (Azurite)]", r.Stdout);
    }

    [Theory]
    [InlineData("status")]
    [InlineData("wait")]
    [InlineData("submit")]
    [InlineData("bench")]
    public async Task Help_does_not_show_the_function_key(string command)
    {
        var key = RandomKey();
        var r = await CliProcess.RunAsync(["jobs", command, "--help"], new Dictionary<string, string?> { ["SERVERLESS_FUNCTION_KEY"] = key });

        Assert.Equal(0, r.ExitCode);
        Assert.DoesNotContain(key, r.Stdout, StringComparison.Ordinal);
        Assert.Contains("[default: $SERVERLESS_FUNCTION_KEY]", r.Stdout);
    }

    [Fact]
    public async Task Bench_telemetry_overhead_alternates_runs_without_and_with_a_collector_and_times_the_recording_alone()
    {
        var r = await CliProcess.RunAsync("bench", "--model", Paths.DemoModelDirectory, "--batch", "1,2", "--runs", "3", "--input-tokens", "8",
            "--new-tokens", "4", "--telemetry-overhead", "--json");

        Assert.True(r.ExitCode == 0, r.ToString());
        using var rows = JsonDocument.Parse(r.Stdout);
        Assert.Equal([1, 2], rows.RootElement.EnumerateArray().Select(row => row.GetProperty("batch").GetInt32()));
        foreach (var row in rows.RootElement.EnumerateArray())
        {
            Assert.True(row.GetProperty("recording_us_per_batch").GetDouble() > 0, row.GetRawText());
            Assert.InRange(row.GetProperty("recording_fraction_of_batch").GetDouble(), double.Epsilon, 1);
            Assert.Equal(3, row.GetProperty("wall_ratios").GetArrayLength());
            Assert.True(row.GetProperty("decode_tokens_per_second_off").GetDouble() > 0 && row.GetProperty("decode_tokens_per_second_on").GetDouble() > 0, row.GetRawText());
            // With the collector on, the engine's spans and metrics cost something: allocations, never less.
            Assert.True(row.GetProperty("allocated_bytes_per_token_on").GetDouble() > row.GetProperty("allocated_bytes_per_token_off").GetDouble(), row.GetRawText());
        }

        var both = await CliProcess.RunAsync("bench", "--model", Paths.DemoModelDirectory, "--telemetry-overhead", "--telemetry");
        Assert.True(both.ExitCode == 2, both.ToString());
        Assert.Contains("--telemetry-overhead", both.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Root_help_documents_the_error_style_and_exit_codes()
    {
        var r = await CliProcess.RunAsync("--help");

        Assert.Equal(0, r.ExitCode);
        Assert.Contains("'error: …', on standard error", r.Stdout);
        Assert.Contains("0 success, 1 failure", r.Stdout);
        Assert.Contains("2 usage error", r.Stdout);
    }

    [Theory]
    [InlineData("model list --bogus", "Unrecognized command or argument '--bogus'", "serverless model list --help")]
    [InlineData("model upload", "Required argument missing", "serverless model upload --help")]
    [InlineData("jobs submit", "Give exactly one of --prompt TEXT or --file FILE.", "serverless jobs submit --help")]
    [InlineData("complete --model x --prompt a --max-new-tokens many", "many", "serverless complete --help")]
    [InlineData("nosuchcommand", "Unrecognized command or argument 'nosuchcommand'", "serverless --help")]
    public async Task Parse_errors_print_the_reason_on_stderr_not_the_help_and_exit_2(string commandLine, string reason, string pointer)
    {
        var r = await CliProcess.RunAsync(commandLine.Split(' '));

        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Equal("", r.Stdout);
        Assert.StartsWith("error: ", r.Stderr, StringComparison.Ordinal);
        Assert.Contains(reason, r.Stderr, StringComparison.Ordinal);
        Assert.Contains($"Run '{pointer}' for usage.", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Options:", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Complete_with_a_token_id_outside_the_vocabulary_is_a_usage_error_not_a_crash()
    {
        var r = await CliProcess.RunAsync("complete", "--model", Paths.DemoModelDirectory, "--input-ids", "99999");

        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.StartsWith("error: ", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("99999", r.Stderr, StringComparison.Ordinal);
        AssertNoStackTrace(r);
    }

    [Fact]
    public async Task Complete_with_ids_that_are_not_integers_is_a_usage_error_in_the_same_style()
    {
        var r = await CliProcess.RunAsync("complete", "--model", Paths.DemoModelDirectory, "--input-ids", "5,x");

        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Equal("error: --input-ids must be comma-separated integers, e.g. 5,6,1; got '5,x'.", r.Stderr.Trim());
    }

    [Fact]
    public async Task Complete_takes_param_name_value_beside_the_named_options_and_the_last_one_wins()
    {
        // min_new_tokens bans end-of-sequence, so output_tokens shows which max_new_tokens ran.
        var r = await CliProcess.RunAsync("complete", "--model", Paths.DemoModelDirectory, "--prompt", "hello", "--json",
            "--max-new-tokens", "2", "--param", "max_new_tokens=4", "--param", "min_new_tokens=4");

        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(4, JsonDocument.Parse(r.Stdout).RootElement.GetProperty("output_tokens").GetInt32());
    }

    [Fact]
    public async Task Complete_with_an_unknown_or_mistyped_param_is_a_usage_error_naming_it()
    {
        var unknown = await CliProcess.RunAsync("complete", "--model", Paths.DemoModelDirectory, "--prompt", "hello", "--param", "max_tokens=4");
        Assert.True(unknown.ExitCode == 2, unknown.ToString());
        Assert.Contains("max_tokens: Unknown parameter. Known: max_new_tokens", unknown.Stderr, StringComparison.Ordinal);

        var mistyped = await CliProcess.RunAsync("complete", "--model", Paths.DemoModelDirectory, "--prompt", "hello", "--param", "top_k=many");
        Assert.True(mistyped.ExitCode == 2, mistyped.ToString());
        Assert.Contains("top_k: Must be an integer.", mistyped.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Enqueue_to_an_unreachable_queue_endpoint_fails_with_one_line_and_exit_1()
    {
        var file = Path.GetTempFileName();
        await File.WriteAllTextAsync(file, "hello");
        try
        {
            var key = RandomKey();
            var r = await CliProcess.RunAsync("jobs", "enqueue", file, "--connection", ConnectionWithKey(key, queuePort: 1));

            Assert.True(r.ExitCode == 1, r.ToString());
            Assert.StartsWith("error: Storage could not be reached", r.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain(key, r.Stdout + r.Stderr, StringComparison.Ordinal);
            AssertNoStackTrace(r);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task A_bad_container_name_is_a_usage_error_naming_the_rule()
    {
        var r = await CliProcess.RunAsync("model", "list", "--container", "Bad_Name");

        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.StartsWith("error: --container: The container name 'Bad_Name' is not valid", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("lowercase letters, digits and hyphens", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("transient", r.Stderr, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_wrong_key_names_the_cli_option_to_fix_not_the_app_setting_and_hides_the_key()
    {
        await Storage.EnsureReachableAsync(Storage.ConnectionString);
        var key = RandomKey();
        var r = await CliProcess.RunAsync("model", "list", "--container", Storage.UniqueName("models"), "--connection", ConnectionWithKey(key));

        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.StartsWith("error: Access to container", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("--connection", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Model__Connection", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(key, r.Stdout + r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Upload_with_a_prefix_leaving_its_container_is_refused_and_writes_nothing_anywhere()
    {
        await Storage.EnsureReachableAsync(Storage.ConnectionString);
        var blobs = new BlobServiceClient(Storage.ConnectionString);
        var target = blobs.GetBlobContainerClient(Storage.UniqueName("models"));
        var other = blobs.GetBlobContainerClient(Storage.UniqueName("other"));
        await other.CreateIfNotExistsAsync(); // unique name; idempotent against a retried create under load
        try
        {
            var r = await CliProcess.RunAsync("model", "upload", Paths.DemoModelDirectory, "--container", target.Name, "--prefix", $"../{other.Name}/");

            Assert.True(r.ExitCode == 2, r.ToString());
            Assert.Contains("error: --prefix: The model prefix", r.Stderr, StringComparison.Ordinal);
            Assert.Contains("'..' folder", r.Stderr, StringComparison.Ordinal);
            Assert.Empty(await other.GetBlobsAsync().ToListAsync());
            Assert.False(await target.ExistsAsync());
        }
        finally
        {
            await other.DeleteIfExistsAsync();
            await target.DeleteIfExistsAsync();
        }
    }

    [Fact]
    public async Task Upload_draws_progress_on_stderr_and_keeps_stdout_for_the_result()
    {
        await Storage.EnsureReachableAsync(Storage.ConnectionString);
        var container = new BlobServiceClient(Storage.ConnectionString).GetBlobContainerClient(Storage.UniqueName("models"));
        try
        {
            var r = await CliProcess.RunAsync("model", "upload", Paths.DemoModelDirectory, "--container", container.Name, "--prefix", "p/");

            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Contains("upload [##############################] 100.0%", r.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("upload [", r.Stdout, StringComparison.Ordinal);
            Assert.StartsWith("Uploaded ", r.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            await container.DeleteIfExistsAsync();
        }
    }

    [Fact]
    public async Task List_and_verify_count_the_same_files_in_their_tables_and_their_json()
    {
        await Storage.EnsureReachableAsync(Storage.ConnectionString);
        var container = new BlobServiceClient(Storage.ConnectionString).GetBlobContainerClient(Storage.UniqueName("models"));
        try
        {
            var upload = await CliProcess.RunAsync("model", "upload", Paths.DemoModelDirectory, "--container", container.Name, "--prefix", "p/");
            Assert.True(upload.ExitCode == 0, upload.ToString());
            var uploaded = int.Parse(System.Text.RegularExpressions.Regex.Match(upload.Stdout, @"Uploaded (\d+) files").Groups[1].Value);

            var listJson = await CliProcess.RunAsync("model", "list", "--container", container.Name, "--json");
            var verifyJson = await CliProcess.RunAsync("model", "verify", "--container", container.Name, "--prefix", "p/", "--json");
            var listTable = await CliProcess.RunAsync("model", "list", "--container", container.Name);
            var verifyText = await CliProcess.RunAsync("model", "verify", "--container", container.Name, "--prefix", "p/");

            Assert.True(listJson.ExitCode == 0, listJson.ToString());
            Assert.True(verifyJson.ExitCode == 0, verifyJson.ToString());
            var version = Assert.Single(JsonDocument.Parse(listJson.Stdout).RootElement.EnumerateArray());
            using var verified = JsonDocument.Parse(verifyJson.Stdout);
            Assert.Equal("p/", version.GetProperty("prefix").GetString());
            Assert.True(version.GetProperty("manifest").GetBoolean());
            Assert.True(verified.RootElement.GetProperty("valid").GetBoolean());
            Assert.Equal(uploaded, version.GetProperty("files").GetInt32());
            Assert.Equal(uploaded, verified.RootElement.GetProperty("files_checked").GetInt32());
            Assert.Matches($@"(?m)^p/\s+{uploaded}\s", listTable.Stdout);
            Assert.Contains($"OK: {uploaded} files", verifyText.Stdout);
        }
        finally
        {
            await container.DeleteIfExistsAsync();
        }
    }

    [Fact]
    public async Task Upload_of_a_hugging_face_cache_snapshot_follows_its_links_and_skips_what_the_engine_does_not_use()
    {
        await Storage.EnsureReachableAsync(Storage.ConnectionString);
        using var cache = HuggingFaceCache.FromFolder(Paths.DemoModelDirectory, extra: ["pytorch_model.bin", "model.safetensors"]);
        var container = new BlobServiceClient(Storage.ConnectionString).GetBlobContainerClient(Storage.UniqueName("models"));
        try
        {
            var r = await CliProcess.RunAsync("model", "upload", cache.Snapshot, "--container", container.Name, "--prefix", "hf/");

            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Contains("skipped 3 file(s)", r.Stderr, StringComparison.Ordinal);
            foreach (var skipped in new[] { "pytorch_model.bin", "model.safetensors", "decoder_model_merged.onnx" })
                Assert.Contains(skipped, r.Stderr, StringComparison.Ordinal);
            var stored = (await container.GetBlobsAsync(new Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = "hf/" }).ToListAsync())
                .ToDictionary(b => b.Name["hf/".Length..], b => b.Properties.ContentLength);
            // The graphs go up with their weights in external data (each distinct tensor once); the other files as they are.
            Assert.Equal(
                ["config.json", "decoder_model.onnx", "decoder_model.onnx_data", "decoder_with_past_model.onnx", "encoder_model.onnx",
                    "encoder_model.onnx_data", "generation_config.json", "manifest.json", "spiece.model"],
                stored.Keys.Order(StringComparer.Ordinal));
            foreach (var name in new[] { "config.json", "generation_config.json", "spiece.model" })
                Assert.Equal(new FileInfo(Path.Combine(Paths.DemoModelDirectory, name)).Length, stored[name]);
            foreach (var graph in new[] { "decoder_model.onnx", "decoder_with_past_model.onnx", "encoder_model.onnx" })
                Assert.True(stored[graph] < new FileInfo(Path.Combine(Paths.DemoModelDirectory, graph)).Length / 4, graph);
            Assert.Contains("Stored the graphs' weights as external data", r.Stdout, StringComparison.Ordinal);
            // The export's size is the linked files' (a snapshot holds links), not the links' own.
            var exported = new[] { "config.json", "decoder_model.onnx", "decoder_with_past_model.onnx", "encoder_model.onnx", "generation_config.json", "spiece.model" }
                .Sum(name => new FileInfo(Path.Combine(Paths.DemoModelDirectory, name)).Length);
            Assert.Contains(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"instead of the export's {exported / 1e6:0.0} MB"), r.Stdout, StringComparison.Ordinal);

            var verify = await CliProcess.RunAsync("model", "verify", "--container", container.Name, "--prefix", "hf/");
            Assert.True(verify.ExitCode == 0, verify.ToString());
        }
        finally
        {
            await container.DeleteIfExistsAsync();
        }
    }

    [Fact]
    public async Task Upload_all_of_a_hugging_face_cache_snapshot_takes_every_file()
    {
        await Storage.EnsureReachableAsync(Storage.ConnectionString);
        using var cache = HuggingFaceCache.FromFolder(Paths.DemoModelDirectory, extra: ["pytorch_model.bin"]);
        var container = new BlobServiceClient(Storage.ConnectionString).GetBlobContainerClient(Storage.UniqueName("models"));
        try
        {
            var r = await CliProcess.RunAsync("model", "upload", cache.Snapshot, "--all", "--container", container.Name, "--prefix", "hf/");

            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.DoesNotContain("skipped", r.Stderr, StringComparison.Ordinal);
            Assert.True(await container.GetBlobClient("hf/pytorch_model.bin").ExistsAsync());
            Assert.True(await container.GetBlobClient("hf/decoder_with_past_model.onnx").ExistsAsync());
        }
        finally
        {
            await container.DeleteIfExistsAsync();
        }
    }

    [Fact]
    public async Task Bench_of_a_hugging_face_cache_snapshot_follows_its_links()
    {
        await Storage.EnsureReachableAsync(Storage.ConnectionString);
        using var cache = HuggingFaceCache.FromFolder(Paths.DemoModelDirectory, extra: []);
        var container = Storage.UniqueName("models-bench");
        try
        {
            var r = await CliProcess.RunAsync("model", "bench", "--model", cache.Snapshot, "--runs", "1", "--threads", "1", "--container", container);

            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Contains("cold:", r.Stdout, StringComparison.Ordinal);
            Assert.Contains("warm:", r.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            await new BlobServiceClient(Storage.ConnectionString).GetBlobContainerClient(container).DeleteIfExistsAsync();
        }
    }
}
