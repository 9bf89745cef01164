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
        string from = Path.GetFullPath(source);
        string to = output is null ? from : Path.GetFullPath(output);
        bool inPlace = string.Equals(from.TrimEnd('/'), to.TrimEnd('/'), StringComparison.Ordinal);

        var graphs = new List<string>();
        foreach (string name in GraphNames)
        {
            string? path = new[] { Path.Combine(from, name + ".onnx"), Path.Combine(from, "onnx", name + ".onnx") }.FirstOrDefault(File.Exists);
            if (path is not null)
                graphs.Add(path);
        }
        bool hasEncoder = graphs.Any(p => Path.GetFileNameWithoutExtension(p) == "encoder_model");
        bool hasMerged = graphs.Any(p => Path.GetFileNameWithoutExtension(p) == "decoder_model_merged");
        bool hasSplit = graphs.Count(p => Path.GetFileNameWithoutExtension(p) is "decoder_model" or "decoder_with_past_model") == 2;
        if (!hasEncoder || !(hasMerged || hasSplit))
            throw new QuantizationException(
                $"The model folder '{from}' is not a complete Optimum export: it needs encoder_model.onnx and decoder_model_merged.onnx " +
                "or both decoder_model.onnx and decoder_with_past_model.onnx (at the top or under onnx/).");

        Directory.CreateDirectory(to);
        if (!inPlace)
            CopyOtherFiles(from, to);

        var results = new List<QuantizedFile>();
        foreach (string path in graphs)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string relative = Path.GetRelativePath(from, path);
            string target = Path.Combine(to, Path.ChangeExtension(relative, null) + "_quantized.onnx");
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            progress?.Report($"quantizing {relative} ...");
            QuantizedFile result = await Task.Run(() => QuantizeFile(path, target, options), cancellationToken).ConfigureAwait(false);
            results.Add(result);
        }
        return results;
    }

    /// <summary>Quantizes one ONNX file.</summary>
    public static QuantizedFile QuantizeFile(string source, string target, QuantizationOptions options)
    {
        options.Validate();
        Onnx.ModelProto model = OnnxModelFile.Load(source);
        GraphQuantizationSummary summary = GraphQuantizer.Quantize(model, options, Path.GetFileName(source));
        IReadOnlyList<string> written = OnnxModelFile.Save(model, target, options.ExternalDataThreshold);
        return new QuantizedFile(source, target, FileBytes(source), written.Sum(f => new FileInfo(f).Length), summary);
    }

    /// <summary>The size of an ONNX file with its external-data files.</summary>
    public static long FileBytes(string onnxFile)
    {
        long bytes = new FileInfo(onnxFile).Length;
        string data = onnxFile + "_data";
        if (File.Exists(data))
            bytes += new FileInfo(data).Length;
        return bytes;
    }

    /// <summary>Config, tokenizer and any other non-model file at the top or under onnx/, unchanged; the fp32 graphs and their data stay behind.</summary>
    private static void CopyOtherFiles(string from, string to)
    {
        foreach (string folder in new[] { from, Path.Combine(from, "onnx") })
        {
            if (!Directory.Exists(folder) || string.Equals(folder.TrimEnd('/'), to.TrimEnd('/'), StringComparison.Ordinal))
                continue;
            foreach (string file in Directory.EnumerateFiles(folder).Order(StringComparer.Ordinal))
            {
                string name = Path.GetFileName(file);
                if (name.EndsWith(".onnx", StringComparison.Ordinal) || name.EndsWith(".onnx_data", StringComparison.Ordinal) ||
                    name.EndsWith(".onnx.data", StringComparison.Ordinal) || name.StartsWith('.'))
                    continue;
                string target = Path.Combine(to, Path.GetRelativePath(from, file));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(file, target, overwrite: true);
            }
        }
    }
}
