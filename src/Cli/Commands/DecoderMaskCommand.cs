using System.CommandLine;
using Google.Protobuf;
using Serverless.Inference.Model;

namespace Serverless.Cli.Commands;

/// <summary>
/// <c>model add-decoder-mask</c>: writes the graphs the engine runs for a stock export (its with-past decoders with
/// <c>decoder_attention_mask</c> added, docs/continuous-batching.md), for people who want to inspect them; the engine itself
/// rewrites in memory at load.
/// </summary>
internal static class DecoderMaskCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("SRC") { Description = "A stock Optimum ONNX export folder (files at the top or under onnx/)." };
        var output = new Option<string>("--out")
        {
            Description = "Write a copy of the folder here, with decoder_with_past_model*.onnx and decoder_model_merged*.onnx rewritten.",
            Required = true,
        };
        var command = new Command("add-decoder-mask",
            "Copy an export with decoder_attention_mask added to its with-past decoders (fp32 and *_quantized), as the engine does at load.")
        {
            source, output,
        };
        command.SetAction((parse, ct) => CommandGuard.RunAsync(async () =>
        {
            var from = Path.GetFullPath(parse.GetValue(source)!);
            var to = Path.GetFullPath(parse.GetValue(output)!);
            if (!Directory.Exists(from))
                return CliExit.Fail($"The model folder '{from}' does not exist.");
            if (string.Equals(from, to, StringComparison.Ordinal) || to.StartsWith(from + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                return CliExit.Fail("--out must be a folder outside the export: the export's own files stay as they are.");
            var rewritten = 0;
            var unrecognised = 0;
            var decoders = 0;
            foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                ct.ThrowIfCancellationRequested();
                var relative = Path.GetRelativePath(from, file);
                var target = Path.Combine(to, relative);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                var name = Path.GetFileName(file);
                if (name.EndsWith(".onnx", StringComparison.Ordinal) &&
                    (name.StartsWith("decoder_with_past_model", StringComparison.Ordinal) || name.StartsWith("decoder_model_merged", StringComparison.Ordinal)))
                {
                    decoders++;
                    var (outcome, model, reason) = DecoderMaskGraph.TryRewriteFile(file);
                    if (outcome == DecoderMaskGraph.Outcome.Added)
                    {
                        await using var stream = File.Create(target);
                        model!.WriteTo(stream);
                        Console.WriteLine($"{relative}: {T5Model.DecoderMaskInput} added");
                        rewritten++;
                        continue;
                    }
                    if (outcome == DecoderMaskGraph.Outcome.AlreadyTakesMask)
                    {
                        Console.WriteLine($"{relative}: copied unchanged (it takes {T5Model.DecoderMaskInput} already)");
                    }
                    else
                    {
                        Console.Error.WriteLine($"{relative}: copied unchanged ({reason})");
                        unrecognised++;
                    }
                }
                File.Copy(file, target, overwrite: true);
            }
            if (decoders == 0)
                return CliExit.Fail($"'{from}' has no decoder_with_past_model*.onnx nor decoder_model_merged*.onnx: nothing to rewrite.");
            if (unrecognised > 0)
                return CliExit.Fail($"{unrecognised} with-past decoder(s) in '{from}' could not be rewritten (reasons above): the engine loads them as exported, without joins.");
            Console.WriteLine($"Wrote '{to}': {rewritten} decoder(s) rewritten.");
            return CliExit.Success;
        }));
        return command;
    }
}
