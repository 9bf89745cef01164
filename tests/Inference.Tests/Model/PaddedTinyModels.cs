using System.Text.Json;

namespace Serverless.Inference.Tests.Model;

/// <summary>
/// The tiny T5 whose logits have more rows than its tokenizer has pieces, as flan-T5's do (32000 pieces, 100 sentinel
/// ids, 28 padding rows = 32128): 1024 + 100 + 28 = 1152 rows, the demo's spiece.model, random weights
/// (Fixtures/tiny-padded, from scripts/reference/make_tiny_padded.py). Loaded once merged and once split.
/// </summary>
public sealed class PaddedTinyModels() : MergedAndSplitModels(ModelDirectory)
{
    public const int Pieces = 1024;
    public const int Sentinels = 100;

    public static string ModelDirectory => Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny-padded");
    public static string GoldensPath => Path.Combine(ModelDirectory, "goldens.json");

    /// <summary>The goldens; a missing file fails the test (the fixture is part of the repository).</summary>
    public static JsonElement Goldens() => ReadGoldens(GoldensPath, "scripts/reference/make_tiny_padded.py");
}
