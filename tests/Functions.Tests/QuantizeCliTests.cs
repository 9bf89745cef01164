using Serverless.Functions.Tests.Infrastructure;

namespace Serverless.Functions.Tests;

/// <summary><c>serverless model quantize | compare</c> and the <c>--quantized</c> / <c>--compare</c> switches, run as a user would.</summary>
public sealed class QuantizeCliTests
{
    [Fact]
    public async Task Quantize_then_complete_bench_and_compare_use_the_quantized_files()
    {
        var output = Path.Combine(Path.GetTempPath(), "quantize-cli-" + Guid.NewGuid().ToString("N"));
        var quantize = await CliProcess.RunAsync("model", "quantize", Paths.DemoModelDirectory, "--bits", "4", "--out", output);
        Assert.True(quantize.ExitCode == 0, quantize.ToString());
        Assert.Contains("decoder_model_merged_quantized.onnx", quantize.Stdout);
        Assert.True(File.Exists(Path.Combine(output, "encoder_model_quantized.onnx")));
        Assert.True(File.Exists(Path.Combine(output, "spiece.model")));

        var complete = await CliProcess.RunAsync("complete", "--model", output, "--quantized", "--input-ids", "5,6,7,1", "--max-new-tokens", "4", "--json");
        Assert.True(complete.ExitCode == 0, complete.ToString());
        Assert.Contains("\"output_ids\"", complete.Stdout);

        var bench = await CliProcess.RunAsync("bench", "--model", Paths.DemoModelDirectory, "--compare", output, "--runs", "1", "--input-tokens", "8", "--new-tokens", "4");
        Assert.True(bench.ExitCode == 0, bench.ToString());
        Assert.Contains("x the first model", bench.Stdout);

        var compare = await CliProcess.RunAsync("model", "compare", Paths.DemoModelDirectory, output, "--prompts", "4", "--steps", "8");
        Assert.True(compare.ExitCode == 0, compare.ToString());
        Assert.Contains("teacher-forced top-1 agreement", compare.Stdout);
        Assert.Contains("over 32 decoder steps", compare.Stdout);
    }

    [Fact]
    public async Task Quantize_out_writes_a_model_folder_with_only_what_it_needs_and_it_loads_without_the_switch()
    {
        var source = Directory.CreateTempSubdirectory("quantize-source-");
        var output = Path.Combine(Path.GetTempPath(), "quantize-out-" + Guid.NewGuid().ToString("N"));
        try
        {
            foreach (var file in Directory.EnumerateFiles(Paths.DemoModelDirectory))
                File.Copy(file, Path.Combine(source.FullName, Path.GetFileName(file)));
            // What a Hugging Face download holds beside the export: no model folder needs it.
            await File.WriteAllBytesAsync(Path.Combine(source.FullName, "pytorch_model.bin"), new byte[1024]);
            await File.WriteAllTextAsync(Path.Combine(source.FullName, "README.md"), "# a model card");

            var quantize = await CliProcess.RunAsync("model", "quantize", source.FullName, "--bits", "4", "--out", output);
            var complete = await CliProcess.RunAsync("complete", "--model", output, "--input-ids", "5,6,7,1", "--max-new-tokens", "4");
            var bench = await CliProcess.RunAsync("bench", "--model", output, "--runs", "1", "--input-tokens", "8", "--new-tokens", "4");

            Assert.True(quantize.ExitCode == 0, quantize.ToString());
            Assert.True(File.Exists(Path.Combine(output, "config.json")));
            Assert.True(File.Exists(Path.Combine(output, "spiece.model")));
            Assert.False(File.Exists(Path.Combine(output, "pytorch_model.bin")));
            Assert.False(File.Exists(Path.Combine(output, "README.md")));
            foreach (var r in new[] { complete, bench })
            {
                Assert.True(r.ExitCode == 0, r.ToString());
                Assert.Contains("quantized", r.Stderr);
            }
        }
        finally
        {
            source.Delete(recursive: true);
            if (Directory.Exists(output)) Directory.Delete(output, recursive: true);
        }
    }

    [Fact]
    public async Task Bench_of_a_folder_that_does_not_load_says_why_without_an_exception_type()
    {
        var empty = Directory.CreateTempSubdirectory("no-model-");
        try
        {
            var r = await CliProcess.RunAsync("bench", "--model", empty.FullName, "--runs", "1");

            Assert.True(r.ExitCode == 1, r.ToString());
            Assert.StartsWith("error: The model folder", r.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("Exception", r.Stderr);
        }
        finally
        {
            empty.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Complete_quantized_without_quantized_files_names_the_command_that_makes_them()
    {
        var r = await CliProcess.RunAsync("complete", "--model", Paths.DemoModelDirectory, "--quantized", "--input-ids", "5,1");
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.StartsWith("error: ", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("serverless model quantize", r.Stderr);
    }

    [Fact]
    public async Task Quantize_with_an_unsupported_bit_width_is_a_usage_error()
    {
        var r = await CliProcess.RunAsync("model", "quantize", Paths.DemoModelDirectory, "--bits", "3");
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.StartsWith("error: ", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("Argument '3' not recognized", r.Stderr);
        Assert.Contains("serverless model quantize --help", r.Stderr);
    }

    [Fact]
    public async Task Quantize_of_a_missing_folder_fails_with_one_line()
    {
        var missing = Path.Combine(Path.GetTempPath(), "no-such-model-" + Guid.NewGuid().ToString("N"));
        var r = await CliProcess.RunAsync("model", "quantize", missing);
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Equal($"error: The model folder '{missing}' does not exist.", r.Stderr.Trim());
    }
}
