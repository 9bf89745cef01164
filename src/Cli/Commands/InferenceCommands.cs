using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Serverless.Inference;
using Serverless.Inference.Generation;
using Serverless.Inference.Model;

namespace Serverless.Cli.Commands;

/// <summary><c>complete</c>, <c>tokenize</c> and <c>bench</c>: run the ONNX model in this process, no host needed.</summary>
internal static class InferenceCommands
{
    public static IEnumerable<Command> Create() => [Complete(), Tokenize(), InferenceBench.Create()];

    internal static Option<string> ModelOption() => new("--model")
    {
        Description = "The model folder (Hugging Face Optimum export: config.json, spiece.model, encoder/decoder .onnx; a folder of " +
            "*_quantized.onnx graphs is loaded as --quantized).",
        Required = true,
    };

    internal static Option<bool> QuantizedOption() => new("--quantized")
    {
        Description = "Load the *_quantized.onnx files (serverless model quantize makes them), as Model__UseQuantized=true does.",
    };

    internal static Option<int> ThreadsOption() => new("--threads")
    {
        Description = "ONNX Runtime intra-op threads; 0 = one per core.",
        DefaultValueFactory = _ => 0,
    };

    internal static readonly JsonWriterOptions JsonOptions = new() { Indented = false };

    private static Command Complete()
    {
        var model = ModelOption();
        var prompt = new Option<string>("--prompt") { Description = "The prompt text." };
        var inputIds = new Option<string>("--input-ids") { Description = "The prompt as comma-separated token ids, e.g. 5,6,1." };
        var parameters = new GenerationParameterOptions();
        var threads = ThreadsOption();
        var quantized = QuantizedOption();
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of the text." };
        var stream = new Option<bool>("--stream") { Description = "Print the text as the tokens come (whole characters only)." };

        var command = new Command("complete", "Complete one prompt with the local model.") { model, prompt, inputIds };
        foreach (var option in parameters.All)
            command.Options.Add(option);
        command.Options.Add(threads);
        command.Options.Add(quantized);
        command.Options.Add(json);
        command.Options.Add(stream);
        command.Validators.Add(r =>
        {
            if (r.GetValue(stream) && r.GetValue(json))
                r.AddError("--stream prints text; leave out --json.");
            if ((r.GetResult(prompt) is null) == (r.GetResult(inputIds) is null))
                r.AddError("Give exactly one of --prompt and --input-ids.");
        });
        command.SetAction((parse, ct) => CommandGuard.RunAsync(async () =>
        {
            int[]? ids = null;
            if (parse.GetValue(inputIds) is { } idsText)
            {
                try
                {
                    ids = idsText.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                        .Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
                }
                catch (Exception e) when (e is FormatException or OverflowException)
                {
                    throw new ArgumentException($"--input-ids must be comma-separated integers, e.g. 5,6,1; got '{idsText}'.");
                }
            }
            using var loaded = T5Model.Load(parse.GetValue(model)!, new ModelOptions { IntraOpThreads = parse.GetValue(threads), UseQuantized = QuantizedFolder.Use(parse.GetValue(model)!, parse.GetValue(quantized)) });
            var o = parameters.Apply(parse, loaded.DefaultGenerationOptions);
            if (parse.GetValue(stream))
            {
                var pieces = ids is null ? loaded.StreamAsync(parse.GetValue(prompt)!, o, ct) : loaded.StreamAsync(ids, o, ct);
                await foreach (var piece in pieces)
                {
                    Console.Out.Write(piece);
                    await Console.Out.FlushAsync(ct);
                }
                Console.Out.WriteLine();
                return 0;
            }
            var result = ids is null
                ? (await loaded.GenerateAsync([parse.GetValue(prompt)!], o, ct))[0]
                : (await loaded.GenerateAsync([ids], o, ct))[0];
            if (!parse.GetValue(json))
            {
                Console.WriteLine(result.Text);
                return 0;
            }
            using var stdout = Console.OpenStandardOutput();
            using var w = new Utf8JsonWriter(stdout, JsonOptions);
            w.WriteStartObject();
            w.WriteStartArray("output_ids");
            foreach (var id in result.OutputIds)
                w.WriteNumberValue(id);
            w.WriteEndArray();
            w.WriteString("text", result.Text);
            w.WriteString("finish_reason", result.FinishReason.ToString().ToLowerInvariant());
            w.WriteNumber("input_tokens", result.InputTokens);
            w.WriteNumber("output_tokens", result.OutputTokens);
            w.WriteNumber("context_window", result.ContextWindow);
            w.WriteNumber("tokens_truncated", result.TokensTruncated);
            w.WriteNumber("tokens_per_second", Math.Round(result.TokensPerSecond, 2));
            w.WriteStartObject("timings");
            w.WriteNumber("tokenize", Math.Round(result.Timings.Tokenize.TotalMilliseconds, 3));
            w.WriteNumber("encode", Math.Round(result.Timings.Encode.TotalMilliseconds, 3));
            w.WriteNumber("first_token", Math.Round(result.Timings.FirstToken.TotalMilliseconds, 3));
            w.WriteNumber("total", Math.Round(result.Timings.Total.TotalMilliseconds, 3));
            w.WriteEndObject();
            w.WriteEndObject();
            w.Flush();
            stdout.WriteByte((byte)'\n');
            return 0;
        }));
        return command;
    }

    private static Command Tokenize()
    {
        var model = ModelOption();
        var text = new Argument<string>("text") { Description = "The text to tokenize." };
        var json = new Option<bool>("--json") { Description = "Print {\"ids\": [...]} instead of the ids on one line." };
        var command = new Command("tokenize", "Print the token ids of a text (</s> included) with the model's spiece.model.")
        {
            model, text, json,
        };
        command.SetAction(parse =>
        {
            var folder = parse.GetValue(model)!;
            var spiece = new[] { Path.Combine(folder, "spiece.model"), Path.Combine(folder, "onnx", "spiece.model") }.FirstOrDefault(File.Exists);
            if (spiece is null)
                return CliExit.Fail($"The model folder '{Path.GetFullPath(folder)}' has no spiece.model (looked at the top and under onnx/).");
            var ids = Serverless.Inference.Tokenization.T5Tokenizer.FromFile(spiece).Encode(parse.GetValue(text)!, addEndOfSentence: true);
            Console.WriteLine(parse.GetValue(json)
                ? JsonSerializer.Serialize(new Dictionary<string, int[]> { ["ids"] = ids })
                : string.Join(' ', ids));
            return 0;
        });
        return command;
    }
}
