using System.Text.Json;
using Serverless.Inference.Model;

namespace Serverless.Inference.Tests.Model;

/// <summary>
/// A committed tiny model loaded once with its merged decoder and once with the split decoder pair (a temporary copy
/// without <c>decoder_model_merged.onnx</c>), so every golden runs against both layouts.
/// </summary>
public abstract class MergedAndSplitModels : IDisposable
{
    private readonly string _splitDirectory;

    protected MergedAndSplitModels(string modelDirectory)
    {
        Merged = T5Model.Load(modelDirectory);
        _splitDirectory = TinyModels.CopyModel(exclude: "decoder_model_merged.onnx", source: modelDirectory);
        Split = T5Model.Load(_splitDirectory);
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
        try
        {
            Directory.Delete(_splitDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
        GC.SuppressFinalize(this);
    }
}
