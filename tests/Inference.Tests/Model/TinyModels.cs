using System.Text.Json;
using Serverless.Inference.Model;

namespace Serverless.Inference.Tests.Model;

/// <summary>
/// The committed tiny T5 (models/demo, copied next to the tests) loaded once with the merged decoder and once with
/// the split decoder pair, plus its goldens from scripts/reference/make_tiny.py.
/// </summary>
public sealed class TinyModels() : MergedAndSplitModels(ModelDirectory)
{
    public static string ModelDirectory => Path.Combine(AppContext.BaseDirectory, "Models", "demo");
    public static string GoldensPath => Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny", "goldens.json");

    /// <summary>The goldens; a missing file fails the test (the fixture is part of the repository).</summary>
    public static JsonElement Goldens() => ReadGoldens(GoldensPath, "scripts/reference/make_tiny.py");

    public static int[] Ints(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToArray();

    /// <summary>
    /// Copies models/demo (or <paramref name="source"/>) to a new temp folder, leaving out files (and optionally moving
    /// the .onnx files under onnx/).
    /// </summary>
    public static string CopyModel(string? exclude = null, bool onnxSubfolder = false, string? source = null)
    {
        var target = Path.Combine(Path.GetTempPath(), "t5-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(target);
        foreach (var file in Directory.GetFiles(source ?? ModelDirectory))
        {
            var name = Path.GetFileName(file);
            if (exclude is not null && exclude.Split(',').Contains(name))
                continue;
            var folder = onnxSubfolder && name.EndsWith(".onnx", StringComparison.Ordinal) ? Path.Combine(target, "onnx") : target;
            Directory.CreateDirectory(folder);
            File.Copy(file, Path.Combine(folder, name));
        }
        return target;
    }
}

[CollectionDefinition(Name)]
public sealed class TinyModelCollection : ICollectionFixture<TinyModels>, ICollectionFixture<PaddedTinyModels>, ICollectionFixture<JoinableTinyModels>
{
    public const string Name = "tiny model";
}
