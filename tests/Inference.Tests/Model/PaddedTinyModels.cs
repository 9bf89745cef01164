using System.Text.Json;
using Serverless.Inference.Model;

namespace Serverless.Inference.Tests.Model;

/// <summary>
/// The tiny T5 whose logits have more rows than its tokenizer has pieces, as flan-T5's do (32000 pieces, 100 sentinel
/// ids, 28 padding rows = 32128): 1024 + 100 + 28 = 1152 rows, the demo's spiece.model, random weights
/// (Fixtures/tiny-padded, from scripts/reference/make_tiny_padded.py). Loaded once merged and once split.
/// </summary>
public sealed class PaddedTinyModels : IDisposable
{
    public const int Pieces = 1024;
    public const int Sentinels = 100;

    public static string ModelDirectory => Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny-padded");
    public static string GoldensPath => Path.Combine(ModelDirectory, "goldens.json");

    private readonly string _splitDirectory;

    public PaddedTinyModels()
    {
        Merged = T5Model.Load(ModelDirectory);
        _splitDirectory = TinyModels.CopyModel(exclude: "decoder_model_merged.onnx", source: ModelDirectory);
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

    /// <summary>The goldens; a missing file fails the test (the fixture is part of the repository).</summary>
    public static JsonElement Goldens()
    {
        Assert.True(File.Exists(GoldensPath), $"The golden file {GoldensPath} is missing; run scripts/reference/make_tiny_padded.py.");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(GoldensPath));
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
    }
}
