using System.Text.Json;
using Serverless.Inference.Model;

namespace Serverless.Inference.Tests.Model;

/// <summary>
/// The committed tiny T5 (models/demo, copied next to the tests) loaded once with the merged decoder and once with
/// the split decoder pair, plus its goldens from scripts/reference/make_tiny.py.
/// </summary>
public sealed class TinyModels : IDisposable
{
    public static string ModelDirectory => Path.Combine(AppContext.BaseDirectory, "Models", "demo");
    public static string GoldensPath => Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny", "goldens.json");

    private readonly string _splitDirectory;

    public TinyModels()
    {
        Merged = T5Model.Load(ModelDirectory);
        _splitDirectory = CopyModel(exclude: "decoder_model_merged.onnx");
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
        Assert.True(File.Exists(GoldensPath), $"The golden file {GoldensPath} is missing; run scripts/reference/make_tiny.py.");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(GoldensPath));
        return doc.RootElement.Clone();
    }

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

[CollectionDefinition(Name)]
public sealed class TinyModelCollection : ICollectionFixture<TinyModels>, ICollectionFixture<PaddedTinyModels>
{
    public const string Name = "tiny model";
}
