using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Serverless.Quantization;

namespace Serverless.Cli.Commands;

/// <summary><c>model quantize</c> and <c>model compare</c>: make int8/4-bit copies of an export and measure them against fp32.</summary>
internal static class QuantizeCommands
{
    /// <summary>Adds the commands to the <c>model</c> command.</summary>
    public static Command AddTo(Command model)
    {
        model.Subcommands.Add(Quantize());
        model.Subcommands.Add(Compare());
        return model;
    }

    private static Command Quantize()
    {
        var dir = new Argument<string>("DIR") { Description = "An Optimum ONNX export folder (files at the top or under onnx/)." };
        var bits = new Option<int>("--bits") { Description = "Bits per weight.", DefaultValueFactory = _ => 8 };
        bits.AcceptOnlyFromAmong("8", "4");
        var blockSize = new Option<int?>("--block-size") { Description = "Weights per block along K sharing a scale and zero point (default: 128 for 8 bits, 32 for 4 bits)." };
        blockSize.AcceptOnlyFromAmong("32", "64", "128");
        var output = new Option<string>("--out")
        {
            Description = "Write the quantized files here, with the config and tokenizer files copied unchanged (default: next to the originals).",
        };
        var form = new Option<string>("--form")
        {
            Description = "nbits: com.microsoft.MatMulNBits (block-wise, 4 or 8 bits; the default, fastest here); " +
                "integer: DynamicQuantizeLinear + MatMulInteger (per-column int8, Optimum's dynamic quantization form).",
            DefaultValueFactory = _ => "nbits",
        };
        form.AcceptOnlyFromAmong("nbits", "integer");
        var accuracy = new Option<int>("--accuracy-level")
        {
            Description = "MatMulNBits accuracy_level: 4 = int8 activations and integer dot products (fast), 0 = ONNX Runtime's default (fp32 compute).",
            DefaultValueFactory = _ => 4,
        };
        accuracy.AcceptOnlyFromAmong("0", "1", "2", "3", "4");
        var symmetric = new Option<bool>("--symmetric")
        {
            Description = "MatMulNBits without zero points (blocks symmetric around 0).",
        };
        var fp32Embeddings = new Option<bool>("--fp32-embeddings")
        {
            Description = "Leave the embedding tables (Gather) in fp32 instead of 8-bit GatherBlockQuantized; they cost size, not decode time.",
        };
        var externalData = new Option<bool>("--external-data")
        {
            Description = "Always write the tensors to a .onnx_data file beside each model (done anyway above 1 GiB of weights).",
        };
        var command = new Command("quantize",
            "Quantize every MatMul with a constant weight (lm_head included) of an Optimum export to 8 or 4 bits; writes " +
            "encoder_model_quantized.onnx and decoder_model_merged_quantized.onnx (or the split pair), as Optimum names them.")
        {
            dir, bits, blockSize, output, form, accuracy, symmetric, fp32Embeddings, externalData,
        };
        command.SetAction(async (parse, ct) =>
        {
            var options = new QuantizationOptions
            {
                Bits = parse.GetValue(bits),
                BlockSize = parse.GetValue(blockSize),
                Form = parse.GetValue(form) == "integer" ? QuantizedMatMulForm.MatMulInteger : QuantizedMatMulForm.MatMulNBits,
                AccuracyLevel = parse.GetValue(accuracy),
                QuantizeEmbeddings = !parse.GetValue(fp32Embeddings),
                Symmetric = parse.GetValue(symmetric),
                ExternalDataThreshold = parse.GetValue(externalData) ? 0 : new QuantizationOptions().ExternalDataThreshold,
            };
            var stopwatch = Stopwatch.StartNew();
            return await CommandGuard.RunAsync(async () =>
            {
                try
                {
                    options.Validate();
                    var files = await ExportQuantizer.QuantizeAsync(parse.GetValue(dir)!, parse.GetValue(output), options, null, ct);
                    foreach (var f in files)
                    {
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"{Path.GetFileName(f.Output),-42} {ModelCommands.Mb(f.SourceBytes),10} -> {ModelCommands.Mb(f.OutputBytes),10}  " +
                            $"{f.Summary.MatMulsQuantized} MatMuls ({f.Summary.WeightsQuantized} weights) and {f.Summary.EmbeddingsQuantized} embeddings quantized; " +
                            $"left fp32: {f.Summary.MatMulsLeft} MatMuls of computed inputs, {f.Summary.EmbeddingsLeft} small tables"));
                    }
                    var formText = options.Form == QuantizedMatMulForm.MatMulNBits
                        ? $"MatMulNBits, {options.Bits}-bit, block {options.EffectiveBlockSize}, {(options.Symmetric ? "symmetric" : "zero points")}, accuracy_level {options.AccuracyLevel}"
                        : "DynamicQuantizeLinear + MatMulInteger, 8-bit per column";
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"Quantized {files.Count} files ({formText}) in {stopwatch.Elapsed.TotalSeconds:0.0} s into {Path.GetDirectoryName(files[0].Output)}; load them with --quantized (Model__UseQuantized=true)."));
                    return CliExit.Success;
                }
                catch (QuantizationException e)
                {
                    return CliExit.Fail(e.Message);
                }
            });
        });
        return command;
    }

    private static Command Compare()
    {
        var reference = new Argument<string>("FP32DIR") { Description = "The fp32 export." };
        var candidate = new Argument<string>("QDIR") { Description = "The quantized export (*_quantized.onnx), or any other export to compare." };
        var prompts = new Option<int>("--prompts") { Description = "Prompts (varied, deterministic) teacher-forced through both.", DefaultValueFactory = _ => 40 };
        var steps = new Option<int>("--steps") { Description = "Decoder steps per prompt (the fp32 model's greedy continuation, EOS masked).", DefaultValueFactory = _ => 64 };
        var goldens = new Option<string>("--goldens") { Description = "A goldens.json (tests/Inference.Tests/Fixtures/tiny) whose greedy cases are replayed on QDIR." };
        var threads = InferenceCommands.ThreadsOption();
        var command = new Command("compare",
            "Fidelity of a quantized export against fp32 on the same inputs: teacher-forced top-1 agreement and logit cosine similarity, " +
            "greedy-output agreement (and on committed goldens with --goldens).")
        {
            reference, candidate, prompts, steps, goldens, threads,
        };
        command.SetAction(async (parse, ct) => await CommandGuard.RunAsync(async () =>
        {
            try
            {
                var options = new FidelityOptions
                {
                    Prompts = parse.GetValue(prompts),
                    StepsPerPrompt = parse.GetValue(steps),
                    GoldensPath = parse.GetValue(goldens),
                    IntraOpThreads = parse.GetValue(threads),
                };
                var report = await Task.Run(() => FidelityComparer.Compare(parse.GetValue(reference)!, parse.GetValue(candidate)!, options, ct), ct);
                Console.WriteLine(report.ToText());
                return CliExit.Success;
            }
            catch (QuantizationException e)
            {
                return CliExit.Fail(e.Message);
            }
        }));
        return command;
    }
}
