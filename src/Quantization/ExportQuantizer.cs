using Serverless.Inference.Onnx;

namespace Serverless.Quantization;

/// <summary>One quantized file of an export.</summary>
public sealed record QuantizedFile(string Source, string Output, long SourceBytes, long OutputBytes, GraphQuantizationSummary Summary);

/// <summary>
/// Quantizes a Hugging Face Optimum ONNX export folder: <c>encoder_model.onnx</c> and <c>decoder_model_merged.onnx</c>
/// and/or the split pair <c>decoder_model.onnx</c> + <c>decoder_with_past_model.onnx</c> become
/// <c>*_quantized.onnx</c>, as Optimum names them, next to the originals or in another folder with the other files
/// (config, tokenizer) copied unchanged.
/// </summary>
public static class ExportQuantizer
{
    /// <summary>The graphs of an export, in the order they are quantized.</summary>
    public static readonly IReadOnlyList<string> GraphNames = ["encoder_model", "decoder_model_merged", "decoder_model", "decoder_with_past_model"];

    /// <param name="source">The export folder (files at the top or under <c>onnx/</c>).</param>
    /// <param name="output">The folder to write to; null or the source writes beside the originals.</param>
    public static async Task<IReadOnlyList<QuantizedFile>> QuantizeAsync(
        string source, string? output, QuantizationOptions options, IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        options.Validate();
        if (!Directory.Exists(source))
            throw new QuantizationException($"The model folder '{source}' does not exist.");
        var from = Path.GetFullPath(source);
        var to = output is null ? from : Path.GetFullPath(output);
        var inPlace = string.Equals(from.TrimEnd('/'), to.TrimEnd('/'), StringComparison.Ordinal);

        var graphs = new List<string>();
        foreach (var name in GraphNames)
        {
            var path = new[] { Path.Combine(from, name + ".onnx"), Path.Combine(from, "onnx", name + ".onnx") }.FirstOrDefault(File.Exists);
            if (path is not null)
                graphs.Add(path);
        }
        var hasEncoder = graphs.Any(p => Path.GetFileNameWithoutExtension(p) == "encoder_model");
        var hasMerged = graphs.Any(p => Path.GetFileNameWithoutExtension(p) == "decoder_model_merged");
        var hasSplit = graphs.Count(p => Path.GetFileNameWithoutExtension(p) is "decoder_model" or "decoder_with_past_model") == 2;
        if (!hasEncoder || !(hasMerged || hasSplit))
        {
            throw new QuantizationException(
                $"The model folder '{from}' is not a complete Optimum export: it needs encoder_model.onnx and decoder_model_merged.onnx " +
                "or both decoder_model.onnx and decoder_with_past_model.onnx (at the top or under onnx/).");
        }

        Directory.CreateDirectory(to);
        if (!inPlace)
            CopyOtherFiles(from, to);

        var results = new List<QuantizedFile>();
        foreach (var path in graphs)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var relative = Path.GetRelativePath(from, path);
            var target = Path.Combine(to, Path.ChangeExtension(relative, null) + "_quantized.onnx");
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            progress?.Report($"quantizing {relative} ...");
            var result = await Task.Run(() => QuantizeFile(path, target, options), cancellationToken).ConfigureAwait(false);
            results.Add(result);
        }
        return results;
    }

    /// <summary>Quantizes one ONNX file.</summary>
    public static QuantizedFile QuantizeFile(string source, string target, QuantizationOptions options)
    {
        options.Validate();
        var model = OnnxModelFile.Load(source);
        var summary = GraphQuantizer.Quantize(model, options, Path.GetFileName(source));
        var written = OnnxModelFile.Save(model, target, options.ExternalDataThreshold);
        return new QuantizedFile(source, target, FileBytes(source), written.Sum(f => new FileInfo(f).Length), summary);
    }

    /// <summary>The size of an ONNX file with its external-data files.</summary>
    public static long FileBytes(string onnxFile)
    {
        var bytes = new FileInfo(onnxFile).Length;
        var data = onnxFile + "_data";
        if (File.Exists(data))
            bytes += new FileInfo(data).Length;
        return bytes;
    }

    /// <summary>The files besides the graphs that a model folder needs (the engine's and the tokenizer's), as the model
    /// store uploads them; anything else in an export (a pytorch_model.bin, a README) stays behind.</summary>
    private static readonly HashSet<string> ModelFolderFiles = new(StringComparer.Ordinal)
    {
        "config.json", "generation_config.json", "spiece.model", "tokenizer.json", "tokenizer_config.json",
        "special_tokens_map.json", "added_tokens.json",
    };

    /// <summary>Config and tokenizer files at the top or under onnx/, unchanged; the fp32 graphs, their data and files
    /// no model folder needs stay behind.</summary>
    private static void CopyOtherFiles(string from, string to)
    {
        foreach (var folder in new[] { from, Path.Combine(from, "onnx") })
        {
            if (!Directory.Exists(folder) || string.Equals(folder.TrimEnd('/'), to.TrimEnd('/'), StringComparison.Ordinal))
                continue;
            foreach (var file in Directory.EnumerateFiles(folder).Order(StringComparer.Ordinal))
            {
                var name = Path.GetFileName(file);
                if (!ModelFolderFiles.Contains(name))
                    continue;

                var target = Path.Combine(to, Path.GetRelativePath(from, file));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(file, target, overwrite: true);
            }
        }
    }
}
