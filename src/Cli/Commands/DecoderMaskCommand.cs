using System.CommandLine;
using Google.Protobuf;
using Serverless.Inference.Model;

namespace Serverless.Cli.Commands;

/// <summary>
/// <c>model add-decoder-mask</c>: writes the graphs the engine runs for a stock export (its with-past decoders with
/// <c>decoder_attention_mask</c> added, docs/decoder-mask.md), for people who want to inspect them; the engine itself
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
            if (string.Equals(from, to, StringComparison.Ordinal))
                return CliExit.Fail("--out must be another folder: the export's own files stay as they are.");
            var rewritten = 0;
            foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                var relative = Path.GetRelativePath(from, file);
                var target = Path.Combine(to, relative);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                var name = Path.GetFileName(file);
                if (name.EndsWith(".onnx", StringComparison.Ordinal) &&
                    (name.StartsWith("decoder_with_past_model", StringComparison.Ordinal) || name.StartsWith("decoder_model_merged", StringComparison.Ordinal)))
                {
                    var (model, reason) = DecoderMaskGraph.TryRewriteFile(file);
                    if (model is not null)
                    {
                        await using var stream = File.Create(target);
                        model.WriteTo(stream);
                        Console.WriteLine($"{relative}: decoder_attention_mask added");
                        rewritten++;
                        continue;
                    }
                    Console.Error.WriteLine($"{relative}: copied unchanged ({reason})");
                }
                File.Copy(file, target, overwrite: true);
                ct.ThrowIfCancellationRequested();
            }
            return rewritten > 0
                ? CliExit.Success
                : CliExit.Fail($"No with-past decoder in '{from}' could be rewritten (reasons above); the engine will load it without joins.");
        }));
        return command;
    }
}
