using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Serverless.Inference.Model;
using Serverless.Inference.Tokenization;
using Serverless.Jobs.Models;
using Serverless.Jobs.Storage;
using Serverless.Jobs.Tests.Infrastructure;
using Serverless.ModelStore;

namespace Serverless.Jobs.Tests;

/// <summary>The worker with the real engine and the tiny random-weight model uploaded to storage.</summary>
public sealed class WorkerModelTests
{
    private static readonly T5Tokenizer Tokenizer = T5Tokenizer.FromFile(Path.Combine(RepoPaths.TinyModel, "spiece.model"));
    private static readonly int ContextWindow =
        JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.TinyModel, "config.json"))).RootElement.GetProperty("n_positions").GetInt32();

    private static string LongPrompt() => string.Join(' ', Enumerable.Range(0, ContextWindow).Select(i => $"word{i}"));

    [Fact]
    public async Task Submitted_job_runs_to_succeeded_with_per_prompt_results()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true);
        const string prompt = "Translate to German: How old are you?";
        var submit = await host.SubmitAsync("""{"prompt": "Translate to German: How old are you?", "parameters": {"max_new_tokens": 6}}""");
        Assert.Equal(202, submit.Status);
        var id = submit.Body.GetProperty("id").GetString()!;

        await host.ProcessNextAsync();

        var reply = await host.GetAsync(id);
        Assert.Equal(200, reply.Status);
        var body = reply.Body;
        Assert.Equal("succeeded", body.GetProperty("status").GetString());
        Assert.Equal(1, body.GetProperty("attempts").GetInt32());
        Assert.True(body.GetProperty("started_at").GetDateTimeOffset() <= body.GetProperty("completed_at").GetDateTimeOffset());
        Assert.False(reply.Headers.ContainsKey("Retry-After"));
        var result = Assert.Single(body.GetProperty("results").EnumerateArray());
        Assert.Equal(JsonValueKind.String, result.GetProperty("completion").ValueKind);
        Assert.Contains(result.GetProperty("finish_reason").GetString(), new[] { "eos", "length" });
        Assert.Equal(Tokenizer.Encode(prompt).Length, result.GetProperty("input_tokens").GetInt32());
        Assert.InRange(result.GetProperty("output_tokens").GetInt32(), 1, 6);
        Assert.Equal(ContextWindow, result.GetProperty("context_window").GetInt32());
        Assert.Equal(0, result.GetProperty("tokens_truncated").GetInt32());
        Assert.True(result.GetProperty("total_ms").GetDouble() > 0);
        Assert.True(result.GetProperty("tokens_per_second").GetDouble() > 0);
        Assert.Equal(result.GetProperty("output_tokens").GetInt32(), body.GetProperty("usage").GetProperty("output_tokens").GetInt32());
        Assert.True(await host.Completions.GetBlobClient($"{id}.json").ExistsAsync());
    }

    [Fact]
    public async Task Raw_text_message_is_a_prompt_under_the_message_id()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true);
        var message = await host.DropAndReceiveAsync("Summarize: the quick brown fox jumps over the lazy dog.");
        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, message.DequeueCount, CancellationToken.None);

        var record = await host.RecordAsync(message.MessageId);
        Assert.Equal(JobStatus.Succeeded, record.Status);
        Assert.Equal("queue", record.Source);
        var output = await host.Outputs.GetAsync(message.MessageId, CancellationToken.None);
        var result = Assert.Single(output!.Results);
        Assert.Equal(Tokenizer.Encode("Summarize: the quick brown fox jumps over the lazy dog.").Length, result.InputTokens);
    }

    [Fact]
    public async Task Batch_job_returns_results_in_prompt_order()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true, new Dictionary<string, string?> { ["Jobs:BatchSize"] = "4" });
        // Different lengths, shuffled, so a result in the wrong place shows up as a wrong input_tokens.
        var prompts = new[] { 7, 2, 11, 1, 5, 9, 3, 12, 4, 8 }.Select(n => "question " + string.Join(' ', Enumerable.Repeat("alpha", n))).ToArray();
        var submit = await host.SubmitAsync(JsonSerializer.Serialize(new { prompts, parameters = new { max_new_tokens = 3 } }));
        var id = submit.Body.GetProperty("id").GetString()!;

        await host.ProcessNextAsync();

        var results = (await host.GetAsync(id)).Body.GetProperty("results").EnumerateArray().ToArray();
        Assert.Equal(prompts.Length, results.Length);
        for (var i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(i, results[i].GetProperty("index").GetInt32());
            Assert.Equal(Tokenizer.Encode(prompts[i]).Length, results[i].GetProperty("input_tokens").GetInt32());
        }
        var record = await host.RecordAsync(id);
        Assert.Equal(results.Sum(r => r.GetProperty("input_tokens").GetInt32()), record.Usage!.InputTokens);
    }

    [Fact]
    public async Task Job_too_large_for_a_queue_message_runs_from_its_input_blob()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true, new Dictionary<string, string?> { ["Jobs:MaxInlineMessageBytes"] = "512" });
        var prompts = Enumerable.Range(0, 6).Select(i => $"item {i}: " + string.Join(' ', Enumerable.Repeat("beta", 20 + i))).ToArray();
        var submit = await host.SubmitAsync(JsonSerializer.Serialize(new { prompts, parameters = new { max_new_tokens = 2 } }));
        var id = submit.Body.GetProperty("id").GetString()!;

        var message = await host.ProcessNextAsync();

        Assert.DoesNotContain("beta", message.MessageText);
        var results = (await host.GetAsync(id)).Body.GetProperty("results").EnumerateArray().ToArray();
        Assert.Equal(prompts.Select(p => Tokenizer.Encode(p).Length), results.Select(r => r.GetProperty("input_tokens").GetInt32()));
    }

    [Fact]
    public async Task Worker_runs_the_model_generation_config_defaults_under_what_the_job_sets()
    {
        // min_new_tokens bans end-of-sequence, so the output length shows which max_new_tokens ran.
        await using var host = await JobsTestHost.CreateAsync(withModel: true, generationConfig: """{"max_new_tokens": 5, "min_new_tokens": 5}""");

        var plain = await host.DropAndReceiveAsync("Summarize: the quick brown fox jumps over the lazy dog.");
        await host.Worker.ProcessAsync(plain.MessageText, plain.MessageId, plain.DequeueCount, CancellationToken.None);
        var output = await host.Outputs.GetAsync(plain.MessageId, CancellationToken.None);
        Assert.Equal(5, Assert.Single(output!.Results).OutputTokens);

        var submit = await host.SubmitAsync("""{"prompt": "Summarize: a fox.", "parameters": {"max_new_tokens": 7, "min_new_tokens": 7}}""");
        Assert.Equal(202, submit.Status);
        await host.ProcessNextAsync();
        var result = Assert.Single((await host.GetAsync(submit.Body.GetProperty("id").GetString()!)).Body.GetProperty("results").EnumerateArray());
        Assert.Equal(7, result.GetProperty("output_tokens").GetInt32());
    }

    [Fact]
    public async Task Submit_checks_the_parameters_over_the_model_generation_config_defaults()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true, generationConfig: """{"num_beams": 4}""");
        var reply = await host.SubmitAsync("""{"prompt": "Summarize: a fox.", "parameters": {"do_sample": true}}""");
        Assert.Equal(400, reply.Status);
        Assert.Equal(["parameters.num_beams"], reply.Errors.Keys);
        Assert.Contains("do_sample", Assert.Single(reply.Errors["parameters.num_beams"]));

        Assert.Equal(202, (await host.SubmitAsync("""{"prompt": "Summarize: a fox.", "parameters": {"do_sample": true, "num_beams": 1}}""")).Status);
    }

    [Fact]
    public async Task Prompt_too_long_in_a_later_batch_names_its_index_in_the_job()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true, new Dictionary<string, string?> { ["Jobs:BatchSize"] = "2" });
        var message = await host.DropAndReceiveAsync(JsonSerializer.Serialize(new { prompts = new[] { "a", "b", "c", LongPrompt() }, parameters = new { max_new_tokens = 1 } }));
        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, message.DequeueCount, CancellationToken.None);
        var record = await host.RecordAsync(message.MessageId);
        Assert.Equal(JobStatus.Failed, record.Status);
        Assert.Equal("prompt_too_long", record.Error!.Code);
        Assert.StartsWith("prompts[3]: The prompt has ", record.Error.Message);
    }

    [Fact]
    public async Task Prompt_over_the_context_window_fails_with_prompt_too_long_unless_truncation_is_asked()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true);
        var prompt = LongPrompt();
        var tokens = Tokenizer.Encode(prompt).Length;
        Assert.True(tokens > ContextWindow);

        var rejected = await host.DropAndReceiveAsync(JsonSerializer.Serialize(new { prompts = new[] { "short", prompt } }));
        await host.Worker.ProcessAsync(rejected.MessageText, rejected.MessageId, rejected.DequeueCount, CancellationToken.None);
        var record = await host.RecordAsync(rejected.MessageId);
        Assert.Equal(JobStatus.Failed, record.Status);
        Assert.Equal("prompt_too_long", record.Error!.Code);
        Assert.Contains("prompts[1]", record.Error.Message);
        Assert.Contains(tokens.ToString(), record.Error.Message);
        Assert.Contains(ContextWindow.ToString(), record.Error.Message);

        var truncated = await host.DropAndReceiveAsync(JsonSerializer.Serialize(new { prompt, parameters = new { truncation = "keep_end", max_new_tokens = 2 } }));
        await host.Worker.ProcessAsync(truncated.MessageText, truncated.MessageId, truncated.DequeueCount, CancellationToken.None);
        var truncatedRecord = await host.RecordAsync(truncated.MessageId);
        Assert.True(truncatedRecord.Status == JobStatus.Succeeded, $"{truncatedRecord.Status}: {truncatedRecord.Error}");
        var output = await host.Outputs.GetAsync(truncated.MessageId, CancellationToken.None);
        var result = Assert.Single(output!.Results);
        Assert.Equal(tokens - ContextWindow, result.TokensTruncated);
    }

    [Fact]
    public async Task Submit_rejects_a_prompt_over_the_context_window_naming_token_count_and_limit()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true);
        var prompt = LongPrompt();
        var tokens = Tokenizer.Encode(prompt).Length;

        var reply = await host.SubmitAsync(JsonSerializer.Serialize(new { prompts = new[] { "fine", prompt } }));

        Assert.Equal(400, reply.Status);
        var error = Assert.Single(reply.Errors["prompts[1]"]);
        Assert.Contains(tokens.ToString(), error);
        Assert.Contains(ContextWindow.ToString(), error);
        Assert.Equal(["prompts[1]"], reply.Errors.Keys);
        Assert.Empty(await host.PeekAllAsync());

        var accepted = await host.SubmitAsync(JsonSerializer.Serialize(new { prompt, parameters = new { truncation = "keep_start" } }));
        Assert.Equal(202, accepted.Status);
    }

    [Fact]
    public async Task Duplicate_delivery_of_a_succeeded_job_writes_nothing()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true);
        var submit = await host.SubmitAsync("""{"prompt": "hello", "parameters": {"max_new_tokens": 3}}""");
        var id = submit.Body.GetProperty("id").GetString()!;
        var message = await host.ProcessNextAsync();
        var record = host.Jobs.GetBlobClient($"{id}.json");
        var output = host.Completions.GetBlobClient($"{id}.json");
        var recordETag = (await record.GetPropertiesAsync()).Value.ETag;
        var outputETag = (await output.GetPropertiesAsync()).Value.ETag;

        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, 2, CancellationToken.None);

        Assert.Equal(recordETag, (await record.GetPropertiesAsync()).Value.ETag);
        Assert.Equal(outputETag, (await output.GetPropertiesAsync()).Value.ETag);
    }

    [Fact]
    public async Task Attempt_that_died_after_writing_the_output_is_completed_without_regenerating()
    {
        await using var host = await JobsTestHost.CreateAsync(withModel: true);
        var submit = await host.SubmitAsync("""{"prompt": "hello", "parameters": {"max_new_tokens": 3}}""");
        var id = submit.Body.GetProperty("id").GetString()!;
        var message = await host.ReceiveAsync();
        // The first attempt got as far as writing the output, then the process died.
        await host.Store.UpdateAsync(id, r => r!.Started(DateTimeOffset.UtcNow, 1), CancellationToken.None);
        var earlier = new JobOutput(id, DateTimeOffset.UtcNow, [new PromptResult(0, "from attempt 1", "eos", 2, 1, ContextWindow, 0, 0, 0, 0, 1, 1)]);
        await host.Outputs.WriteAsync(earlier, CancellationToken.None);

        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, 2, CancellationToken.None);

        var reply = await host.GetAsync(id);
        Assert.Equal("succeeded", reply.Body.GetProperty("status").GetString());
        Assert.Equal(2, reply.Body.GetProperty("attempts").GetInt32());
        Assert.Equal("from attempt 1", reply.Body.GetProperty("results")[0].GetProperty("completion").GetString());
    }

    [Fact]
    public async Task Host_shutdown_mid_job_hands_the_job_back_queued_and_writes_no_partial_output()
    {
        // The per-message path (the engine answers a cancellation with partial results there; the shared batches' own
        // cancellation is PromptSchedulerTests'). One big batch (the tiny model makes ~13k tokens/s; 64 x 512 tokens take a few seconds), and a shutdown that
        // fires shortly after the model is handed to the worker, i.e. inside generation.
        var shutdown = new ShutdownAfterAcquire();
        await using var host = await JobsTestHost.CreateAsync(withModel: true, new Dictionary<string, string?> { ["Jobs:BatchSize"] = "64", ["Jobs:DynamicBatching"] = "false" },
            services => services.AddSingleton<IJobModelSource>(sp => shutdown.Wrap(new ModelStoreJobModelSource(sp.GetRequiredService<ModelProvider<T5Model>>()))));
        var warm = await host.DropAndReceiveAsync("warm up"); // loads the model
        await host.Worker.ProcessAsync(warm.MessageText, warm.MessageId, 1, CancellationToken.None);

        // One batch: a cancellation inside the last (here: only) batch is the one the engine answers with partial results.
        var prompts = Enumerable.Range(0, host.Options.BatchSize).Select(i => $"prompt number {i}").ToArray();
        var message = await host.DropAndReceiveAsync(JsonSerializer.Serialize(new { prompts, parameters = new { min_new_tokens = 512, max_new_tokens = 512 } }));
        shutdown.Arm(TimeSpan.FromMilliseconds(20)); // 64 x 512 tokens of the tiny model can take under 200 ms on an idle machine

        // Handed back at once (docs/reliability.md): the record is queued again and a new message carries the job, so
        // the old one completes instead of waiting out its visibility timeout.
        await host.Worker.ProcessAsync(message.MessageText, message.MessageId, message.DequeueCount, shutdown.Token);

        var record = await host.RecordAsync(message.MessageId);
        Assert.Equal(JobStatus.Queued, record.Status);
        Assert.Equal(1, record.Attempts);
        Assert.False(await host.Completions.GetBlobClient($"{message.MessageId}.json").ExistsAsync());
    }

    /// <summary>Cancels a token a moment after the next model acquire returns.</summary>
    private sealed class ShutdownAfterAcquire
    {
        private readonly CancellationTokenSource _cts = new();
        private TimeSpan? _delay;
        public CancellationToken Token => _cts.Token;
        public void Arm(TimeSpan delay) => _delay = delay;
        public IJobModelSource Wrap(IJobModelSource inner) => new Source(inner, this);

        private sealed class Source(IJobModelSource inner, ShutdownAfterAcquire owner) : IJobModelSource
        {
            public async Task<JobModelLease> AcquireAsync(CancellationToken cancellationToken)
            {
                var lease = await inner.AcquireAsync(cancellationToken);
                if (owner._delay is { } delay) owner._cts.CancelAfter(delay);
                return lease;
            }
        }
    }
}
