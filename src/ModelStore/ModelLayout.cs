namespace Serverless.ModelStore;

/// <summary>
/// The files of a Hugging Face Optimum export of T5 that the store moves, and the ones the engine cannot do without.
/// Files sit at the top of the model folder or under <c>onnx/</c> (the transformers.js layout); deeper folders are
/// other versions or unrelated, and are ignored.
/// </summary>
public static class ModelLayout
{
    /// <summary>The manifest blob written next to the files by <see cref="ModelUploader"/>.</summary>
    public const string ManifestName = "manifest.json";

    private static readonly string[] KnownNonOnnxFiles =
    [
        "config.json", "generation_config.json", "spiece.model", "tokenizer.json", "tokenizer_config.json",
        "special_tokens_map.json", "added_tokens.json",
    ];

    /// <summary>True for a path (relative to the model folder, '/'-separated) that belongs to the model.</summary>
    public static bool IsModelFile(string relativePath)
    {
        var name = relativePath;
        if (name.StartsWith("onnx/", StringComparison.Ordinal)) name = name["onnx/".Length..];
        if (name.Length == 0 || name.Contains('/')) return false;
        return KnownNonOnnxFiles.Contains(name, StringComparer.Ordinal)
            || name.EndsWith(".onnx", StringComparison.Ordinal)
            || name.EndsWith(".onnx_data", StringComparison.Ordinal)
            || name.EndsWith(".onnx.data", StringComparison.Ordinal);
    }

    /// <summary>Whether a file should be fetched for the chosen precision: quantized graphs are skipped for fp32 and vice versa.</summary>
    internal static bool IsWanted(string relativePath, bool useQuantized)
    {
        var name = Path.GetFileName(relativePath);
        var isGraph = name.EndsWith(".onnx", StringComparison.Ordinal) || name.EndsWith(".onnx_data", StringComparison.Ordinal)
            || name.EndsWith(".onnx.data", StringComparison.Ordinal);
        if (!isGraph) return true;
        var stem = name[..name.IndexOf(".onnx", StringComparison.Ordinal)];
        return stem.EndsWith("_quantized", StringComparison.Ordinal) == useQuantized;
    }

    /// <summary>
    /// The files worth fetching out of <paramref name="relativePaths"/>: model files of the chosen precision, and, when
    /// the split decoder pair is present, not the merged decoder (the engine prefers the pair, which decodes batches
    /// faster; an Optimum export carries all three, so this saves a third of the download).
    /// </summary>
    public static IReadOnlyList<string> SelectFiles(IEnumerable<string> relativePaths, bool useQuantized = false)
    {
        var files = relativePaths.Where(p => IsModelFile(p) && IsWanted(p, useQuantized)).ToList();
        var q = useQuantized ? "_quantized" : "";
        var names = files.Select(f => Path.GetFileName(f)).ToHashSet(StringComparer.Ordinal);
        if (!HasSplitPair(names, q)) return files;
        return files.Where(f => !Path.GetFileName(f).StartsWith($"decoder_model_merged{q}.onnx", StringComparison.Ordinal)).ToList();
    }

    /// <summary>Whether <paramref name="names"/> (file names) hold both split decoders, which the engine then loads instead
    /// of <c>decoder_model_merged</c> (as <c>ModelFiles.Locate</c> in the engine chooses).</summary>
    private static bool HasSplitPair(IReadOnlySet<string> names, string q) =>
        names.Contains($"decoder_model{q}.onnx") && names.Contains($"decoder_with_past_model{q}.onnx");

    /// <summary>
    /// The files of a local export worth uploading: config, generation config and tokenizer files, and the graphs of
    /// the layout the engine loads, in each precision present: the encoder, then the split decoder pair or, without it,
    /// the merged decoder, with their external-data files (<c>&lt;graph&gt;.onnx_data</c>, <c>&lt;graph&gt;.onnx.data</c>).
    /// Weights for other frameworks (<c>pytorch_model.bin</c>, <c>*.safetensors</c>) and other graphs are left out.
    /// </summary>
    public static IReadOnlyList<string> SelectForUpload(IEnumerable<string> relativePaths)
    {
        var files = relativePaths.Where(IsModelFile).ToList();
        var names = files.Select(NameInFolder).ToHashSet(StringComparer.Ordinal);
        var graphs = new HashSet<string>(StringComparer.Ordinal);
        foreach (var q in new[] { "", "_quantized" })
        {
            if (names.Contains($"encoder_model{q}.onnx")) graphs.Add($"encoder_model{q}");
            if (HasSplitPair(names, q))
                graphs.UnionWith([$"decoder_model{q}", $"decoder_with_past_model{q}"]);
            else if (names.Contains($"decoder_model_merged{q}.onnx")) graphs.Add($"decoder_model_merged{q}");
        }
        return files.Where(f =>
        {
            var name = NameInFolder(f);
            var dot = name.IndexOf(".onnx", StringComparison.Ordinal);
            return dot < 0 ? KnownNonOnnxFiles.Contains(name, StringComparer.Ordinal) : graphs.Contains(name[..dot]);
        }).ToList();
    }

    private static string NameInFolder(string relativePath) =>
        relativePath.StartsWith("onnx/", StringComparison.Ordinal) ? relativePath["onnx/".Length..] : relativePath;

    /// <summary>Whether a model runs without this file (a name as at the top of the folder): everything but
    /// <c>config.json</c>, <c>spiece.model</c> and the graphs, e.g. <c>generation_config.json</c>.</summary>
    public static bool IsOptional(string name) =>
        name is not ("config.json" or "spiece.model") && !name.EndsWith(".onnx", StringComparison.Ordinal);

    /// <summary>
    /// The first required file that is absent (as the path it would have at the top, or under <c>onnx/</c> when the
    /// export uses that layout), or null when the set is complete.
    /// </summary>
    public static string? FindMissing(IReadOnlyCollection<string> relativePaths, bool useQuantized = false)
    {
        var set = new HashSet<string>(relativePaths, StringComparer.Ordinal);
        bool Has(string name) => set.Contains(name) || set.Contains("onnx/" + name);
        var graphsUnderOnnx = relativePaths.Any(p => p.StartsWith("onnx/", StringComparison.Ordinal) && p.EndsWith(".onnx", StringComparison.Ordinal));
        string Where(string name) => graphsUnderOnnx && name.EndsWith(".onnx", StringComparison.Ordinal) ? "onnx/" + name : name;
        var q = useQuantized ? "_quantized" : "";

        foreach (var name in new[] { "config.json", "spiece.model", $"encoder_model{q}.onnx" })
            if (!Has(name)) return Where(name);
        if (Has($"decoder_model_merged{q}.onnx")) return null;
        if (!Has($"decoder_model{q}.onnx"))
            return Where(Has($"decoder_with_past_model{q}.onnx") ? $"decoder_model{q}.onnx" : $"decoder_model_merged{q}.onnx");
        if (!Has($"decoder_with_past_model{q}.onnx")) return Where($"decoder_with_past_model{q}.onnx");
        return null;
    }
}
