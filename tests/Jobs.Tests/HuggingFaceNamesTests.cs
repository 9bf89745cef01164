using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary>Hugging Face names: <c>inputs</c> for <c>prompt</c>/<c>prompts</c>, <c>generated_text</c> beside <c>completion</c>.</summary>
public sealed class HuggingFaceNamesTests
{
    [Theory]
    [InlineData("""{"inputs": "hello"}""", 1)]
    [InlineData("""{"inputs": ["a", "b", "c"]}""", 3)]
    public async Task Inputs_is_accepted_for_prompt_and_prompts(string body, int count)
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true);
        var reply = await host.SubmitAsync(body);
        Assert.Equal(202, reply.Status);
        Assert.Equal(count, reply.Body.GetProperty("prompt_count").GetInt32());
    }

    [Theory]
    [InlineData("""{"inputs": "a", "prompt": "b"}""", "inputs")]
    [InlineData("""{"prompts": ["a"], "inputs": ["b"]}""", "inputs")]
    [InlineData("""{"inputs": ["a", ""]}""", "inputs[1]")]
    [InlineData("""{"inputs": 5}""", "inputs")]
    public async Task Bad_inputs_are_named_as_sent(string body, string field)
    {
        await using var host = await JobsTestHost.CreateAsync();
        var reply = await host.SubmitAsync(body);
        Assert.Equal(400, reply.Status);
        Assert.Contains(field, reply.Errors.Keys);
    }

    [Fact]
    public async Task Results_carry_generated_text_equal_to_completion()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true);
        var id = (await host.SubmitAsync("""{"inputs": ["x y z", "hello"], "parameters": {"max_new_tokens": 3, "min_new_tokens": 3}}""")).Body.GetProperty("id").GetString()!;
        await host.ProcessNextAsync();

        var results = (await host.GetAsync(id)).Body.GetProperty("results").EnumerateArray().ToArray();

        Assert.Equal(2, results.Length);
        Assert.All(results, r => Assert.Equal(r.GetProperty("completion").GetString(), r.GetProperty("generated_text").GetString()));
        Assert.All(results, r => Assert.False(string.IsNullOrEmpty(r.GetProperty("generated_text").GetString())));
    }

    [Fact]
    public async Task An_output_written_before_generated_text_existed_reads_back_with_both_names()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true);
        var id = (await host.SubmitAsync("""{"prompt": "hello", "parameters": {"max_new_tokens": 2}}""")).Body.GetProperty("id").GetString()!;
        await host.ProcessNextAsync();
        // The output as the worker wrote it before results carried generated_text: completion only.
        var blob = host.Completions.GetBlobClient($"{id}.json");
        var old = System.Text.Json.Nodes.JsonNode.Parse((await blob.DownloadContentAsync()).Value.Content.ToString())!;
        foreach (var r in old["results"]!.AsArray())
        {
            r!.AsObject().Remove("generated_text");
            r["completion"] = "written long ago";
        }
        await blob.UploadAsync(BinaryData.FromString(old.ToJsonString()), overwrite: true);

        var result = (await host.GetAsync(id)).Body.GetProperty("results")[0];

        Assert.Equal("written long ago", result.GetProperty("generated_text").GetString());
        Assert.Equal("written long ago", result.GetProperty("completion").GetString());
    }
}

/// <summary>Every result says which model produced it and with which effective parameters.</summary>
public sealed class TraceabilityTests
{
    [Fact]
    public async Task Output_and_status_record_the_model_and_the_effective_parameters_with_generation_config_defaults()
    {
        // The model's generation_config.json sets a default the job does not: it must show up as what ran.
        await using var host = await JobsTestHost.CreateAsync(withModel: true, generationConfig: """{"repetition_penalty": 1.3, "no_repeat_ngram_size": 2}""");
        var id = (await host.SubmitAsync("""{"prompt": "hello there", "parameters": {"max_new_tokens": 3}}""")).Body.GetProperty("id").GetString()!;
        await host.ProcessNextAsync();

        var body = (await host.GetAsync(id)).Body;

        var model = body.GetProperty("model");
        Assert.Equal(host.Models.Name, model.GetProperty("container").GetString());
        Assert.Equal(JobsTestHost.ModelPrefix, model.GetProperty("prefix").GetString());
        Assert.False(string.IsNullOrEmpty(model.GetProperty("version").GetString()));
        var parameters = body.GetProperty("parameters");
        Assert.Equal(3, parameters.GetProperty("max_new_tokens").GetInt32());
        Assert.Equal(1.3, parameters.GetProperty("repetition_penalty").GetDouble(), 6);
        Assert.Equal(2, parameters.GetProperty("no_repeat_ngram_size").GetInt32());
        Assert.Equal(1, parameters.GetProperty("num_beams").GetInt32());
        var blob = (await host.Completions.GetBlobClient($"{id}.json").DownloadContentAsync()).Value.Content.ToString();
        Assert.Contains("\"version\"", blob);
        Assert.Contains("\"repetition_penalty\":1.3", blob);
    }
}
