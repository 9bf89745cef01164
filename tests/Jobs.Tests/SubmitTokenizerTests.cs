using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Inference.Model;
using Serverless.Jobs.Models;
using Serverless.Jobs.Tests.Infrastructure;
using Serverless.ModelStore;

namespace Serverless.Jobs.Tests;

/// <summary>
/// The submit counts tokens with the tokenizer and context window only: it fetches config.json and spiece.model, not
/// the whole model (~375 MB for flan-t5-small on a fresh HTTP instance), and follows a model replaced in storage.
/// </summary>
public sealed class SubmitTokenizerTests
{
    [Fact]
    public async Task Submit_fetches_only_config_spiece_and_generation_config_and_loads_no_model()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true);

        var reply = await host.SubmitAsync("""{"prompt": "Where is Ganymede located in the solar system?"}""");

        Assert.Equal(202, reply.Status);
        var tokenizer = host.Services.GetRequiredService<ModelProvider<SubmitTokenizer>>();
        var load = Assert.IsType<ModelLoadInfo>(tokenizer.LastLoad);
        string[] files = ["config.json", "generation_config.json", "spiece.model"];
        Assert.Equal(files.Length, load.FilesDownloaded + load.FilesReused);
        Assert.Equal(files.Sum(f => new FileInfo(Path.Combine(RepoPaths.TinyModel, f)).Length), load.BytesDownloaded);
        Assert.Equal(files,
            Directory.GetFiles(tokenizer.CacheDirectory).Select(Path.GetFileName).Where(n => !n!.StartsWith('.') && n != "cache.json").Order(StringComparer.Ordinal));
        // Before: the submit acquired the worker's whole model to count tokens.
        Assert.Null(host.Services.GetRequiredService<ModelProvider<T5Model>>().LastLoad);
    }

    [Fact]
    public async Task Submit_checks_a_model_without_generation_config_against_the_hugging_face_defaults()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var copy = Directory.CreateTempSubdirectory("submit-tokenizer-").FullName;
        try
        {
            foreach (var file in Directory.GetFiles(RepoPaths.TinyModel).Where(f => Path.GetFileName(f) != "generation_config.json"))
                File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
            await ModelUploader.UploadAsync(copy, host.Models, JobsTestHost.ModelPrefix);
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }

        // generation_config.json is optional: the submit still loads the tokenizer (a too-long prompt is caught) ...
        var tooLong = await host.SubmitAsync(System.Text.Json.JsonSerializer.Serialize(new { prompt = string.Join(' ', Enumerable.Repeat("word", 600)) }));
        Assert.Equal(400, tooLong.Status);
        Assert.Contains("prompt", tooLong.Errors.Keys);
        // ... and checks the parameters over Hugging Face's defaults (min_new_tokens up to max_new_tokens' 64).
        Assert.Equal(400, (await host.SubmitAsync("""{"prompt": "a fox", "parameters": {"min_new_tokens": 65}}""")).Status);
        Assert.Equal(202, (await host.SubmitAsync("""{"prompt": "a fox", "parameters": {"min_new_tokens": 64}}""")).Status);
    }

    [Fact]
    public async Task Submit_follows_a_model_replaced_in_storage()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true, settings: new Dictionary<string, string?> { ["Model:RefreshMinutes"] = "0.001" });
        const string body = """{"prompt": "Where is Ganymede located in the solar system? Answer in one short sentence."}""";
        Assert.Equal(202, (await host.SubmitAsync(body)).Status);

        // A new version with a context window of 8 tokens: the same prompt is now too long.
        var copy = Directory.CreateTempSubdirectory("submit-tokenizer-").FullName;
        try
        {
            foreach (var file in Directory.GetFiles(RepoPaths.TinyModel)) File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(copy, "config.json")))!;
            config["n_positions"] = 8;
            File.WriteAllText(Path.Combine(copy, "config.json"), config.ToJsonString());
            await ModelUploader.UploadAsync(copy, host.Models, JobsTestHost.ModelPrefix);
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }

        // The refresh runs in the background after an acquire finds the interval elapsed: a few submits later it shows.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        HttpReply reply;
        do
        {
            await Task.Delay(200, timeout.Token);
            reply = await host.SubmitAsync(body);
        }
        while (reply.Status == 202);

        Assert.Equal(400, reply.Status);
        Assert.Contains("context window is 8", string.Join(" ", reply.Errors["prompt"]));
    }

    [Fact]
    public void The_demo_models_config_says_random_weights_and_a_config_without_the_key_does_not()
    {
        using (var demo = SubmitTokenizer.Load(RepoPaths.TinyModel))
            Assert.True(demo.RandomWeights);

        var copy = Directory.CreateTempSubdirectory("submit-tokenizer-").FullName;
        try
        {
            foreach (var file in SubmitTokenizer.Files)
                File.Copy(Path.Combine(RepoPaths.TinyModel, file), Path.Combine(copy, file));
            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(copy, "config.json")))!.AsObject();
            Assert.True(config.Remove("random_weights"));
            File.WriteAllText(Path.Combine(copy, "config.json"), config.ToJsonString());
            using var real = SubmitTokenizer.Load(copy);
            Assert.False(real.RandomWeights);
            Assert.Equal(512, real.ContextWindow);
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }
    }
}
