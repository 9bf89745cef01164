namespace Serverless.Cli.Commands;

/// <summary>
/// A folder that <c>serverless model quantize --out</c> wrote holds only the <c>*_quantized.onnx</c> graphs: loading it
/// without <c>--quantized</c> would look for fp32 files that are not there. Such a folder is loaded as quantized, and
/// the CLI says so on stderr.
/// </summary>
internal static class QuantizedFolder
{
    public static bool Use(string folder, bool quantized)
    {
        if (quantized || !Directory.Exists(folder)) return quantized;
        bool Has(string name) => File.Exists(Path.Combine(folder, name)) || File.Exists(Path.Combine(folder, "onnx", name));
        if (Has("encoder_model.onnx") || !Has("encoder_model_quantized.onnx")) return false;
        Console.Error.WriteLine($"note: '{folder}' holds only quantized graphs (*_quantized.onnx); loading them, as --quantized does.");
        return true;
    }
}
