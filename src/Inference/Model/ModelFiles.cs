namespace Serverless.Inference.Model;

/// <summary>Where the files of a Hugging Face Optimum export are: at the top of the folder or under <c>onnx/</c>.</summary>
internal sealed record ModelFiles(
    string Directory,
    string Config,
    string? GenerationConfig,
    string SentencePiece,
    string Encoder,
    string? MergedDecoder,
    string? Decoder,
    string? DecoderWithPast)
{
    /// <summary>Finds the files; prefers the split decoder pair over <c>decoder_model_merged</c> when both are present.</summary>
    /// <exception cref="ModelFormatException">A required file is missing; the message names it and the folder.</exception>
    public static ModelFiles Locate(string directory, bool useQuantized)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!System.IO.Directory.Exists(directory))
            throw new ModelFormatException($"The model folder '{directory}' does not exist.");
        var full = Path.GetFullPath(directory);
        var suffix = useQuantized ? "_quantized" : "";

        string? Find(string name)
        {
            foreach (var candidate in new[] { Path.Combine(full, name), Path.Combine(full, "onnx", name) })
            {
                if (File.Exists(candidate))
                    return candidate;
            }
            return null;
        }
        string Require(string name) => Find(name) ?? throw new ModelFormatException(
            $"The model folder '{full}' has no {name} (looked at the top and under onnx/); " +
            (useQuantized && name.EndsWith(suffix + ".onnx", StringComparison.Ordinal)
                ? $"make the quantized files with: serverless model quantize {directory}"
                : "export the model with Hugging Face Optimum or copy the file there."));

        var config = Require("config.json");
        var spiece = Require("spiece.model");
        var encoder = Require($"encoder_model{suffix}.onnx");
        // The split pair when both are there: at 16 rows the merged decoder decodes about a tenth slower (`serverless bench
        // --compare`, docs/scaling.md; perf puts the difference in copies under its If node). The merged one alone works too.
        var decoder = Find($"decoder_model{suffix}.onnx");
        var withPast = Find($"decoder_with_past_model{suffix}.onnx");
        string? merged = null;
        if (decoder is null || withPast is null)
        {
            merged = Find($"decoder_model_merged{suffix}.onnx");
            if (merged is null)
            {
                var missing = decoder is null && withPast is null
                    ? $"decoder_model{suffix}.onnx and decoder_with_past_model{suffix}.onnx"
                    : decoder is null ? $"decoder_model{suffix}.onnx" : $"decoder_with_past_model{suffix}.onnx";
                throw new ModelFormatException(
                    $"The model folder '{full}' has no decoder_model_merged{suffix}.onnx and no {missing} (looked at the top and under onnx/); " +
                    "it needs the merged decoder or both decoder_model and decoder_with_past_model.");
            }
            decoder = withPast = null;
        }
        return new ModelFiles(full, config, Find("generation_config.json"), spiece, encoder, merged, decoder, withPast);
    }
}
