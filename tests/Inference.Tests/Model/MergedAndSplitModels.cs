using System.Text.Json;
using Serverless.Inference.Model;

namespace Serverless.Inference.Tests.Model;

/// <summary>
/// A committed tiny model loaded once with its merged decoder and once with the split decoder pair (temporary copies
/// without the other layout's graphs: with all three the engine takes the pair), so every golden runs against both.
/// </summary>
public abstract class MergedAndSplitModels : IDisposable
{
    private readonly string _mergedDirectory;
    private readonly string _splitDirectory;

    protected MergedAndSplitModels(string modelDirectory)
    {
        _mergedDirectory = TinyModels.CopyModel(exclude: "decoder_model.onnx,decoder_with_past_model.onnx", source: modelDirectory);
        Merged = T5Model.Load(_mergedDirectory);
        _splitDirectory = TinyModels.CopyModel(exclude: "decoder_model_merged.onnx", source: modelDirectory);
        Split = T5Model.Load(_splitDirectory);
        if (!Merged.IsMerged || Split.IsMerged)
            throw new InvalidOperationException($"The copies of {modelDirectory} did not load as merged and split.");
    }

    public T5Model Merged { get; }
    public T5Model Split { get; }

    public T5Model Get(string layout) => layout switch
    {
        "merged" => Merged,
        "split" => Split,
        _ => throw new ArgumentOutOfRangeException(nameof(layout)),
    };

    /// <summary>Reads a goldens file; a missing file fails the test (the fixture is part of the repository).</summary>
    protected static JsonElement ReadGoldens(string path, string generator)
    {
        Assert.True(File.Exists(path), $"The golden file {path} is missing; run {generator}.");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        return doc.RootElement.Clone();
    }

    public void Dispose()
    {
        Merged.Dispose();
        Split.Dispose();
        foreach (var directory in new[] { _mergedDirectory, _splitDirectory })
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
        GC.SuppressFinalize(this);
    }
}
