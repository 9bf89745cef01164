using System.Text.Json;
using Serverless.Inference.Generation;
using Serverless.Inference.Model;
using Serverless.Inference.Tokenization;

namespace Serverless.Jobs.Models;

/// <summary>
/// What the submit needs to count a prompt's tokens and check its parameters as the worker will run them: the tokenizer
/// (<c>spiece.model</c>), the context window (<c>config.json</c>) and the generation defaults (<c>generation_config.json</c>,
/// optional), loaded from just those files rather than the whole model (about 375 MB for flan-t5-small).
/// </summary>
internal sealed class SubmitTokenizer(T5Tokenizer tokenizer, int contextWindow, GenerationOptions defaults, bool randomWeights = false) : IDisposable
{
    /// <summary>The files it is loaded from (at the top of the model folder or under <c>onnx/</c>); generation_config.json may be absent.</summary>
    public static readonly IReadOnlyCollection<string> Files = ["config.json", "spiece.model", "generation_config.json"];

    public T5Tokenizer Tokenizer { get; } = tokenizer;
    public int ContextWindow { get; } = contextWindow;

    /// <summary>The model's generation defaults: what <c>model.DefaultGenerationOptions</c> gives the worker for the same folder.</summary>
    public GenerationOptions Defaults { get; } = defaults;

    /// <summary><c>"random_weights": true</c> in <c>config.json</c>: the model's text is meaningless (the committed demo model
    /// says so; a real export has no such key). Shown by the playground, reported by <c>POST /api/tokenize</c>.</summary>
    public bool RandomWeights { get; } = randomWeights;

    public static SubmitTokenizer Load(string directory)
    {
        string? Find(string name) =>
            new[] { Path.Combine(directory, name), Path.Combine(directory, "onnx", name) }.FirstOrDefault(File.Exists);
        string Require(string name) => Find(name) ?? throw new FileNotFoundException($"{name} is missing from {directory}.", name);
        var (contextWindow, randomWeights) = ReadConfig(Require("config.json"));
        return new SubmitTokenizer(T5Tokenizer.FromFile(Require("spiece.model")), contextWindow, ReadDefaults(Find("generation_config.json")), randomWeights);
    }

    private static GenerationOptions ReadDefaults(string? path)
    {
        if (path is null) return new GenerationOptions();
        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        return GenerationParameters.FromGenerationConfig(document.RootElement);
    }

    /// <summary><c>n_positions</c>, 512 when absent: the window <see cref="T5Model.ContextWindow"/> reports for the same file;
    /// and whether <c>random_weights</c> is <c>true</c>.</summary>
    private static (int ContextWindow, bool RandomWeights) ReadConfig(string configPath)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(configPath));
        var root = document.RootElement;
        var window = root.TryGetProperty("n_positions", out var n) && n.TryGetInt32(out var value) && value > 0 ? value : 512;
        return (window, root.TryGetProperty("random_weights", out var r) && r.ValueKind == JsonValueKind.True);
    }

    public void Dispose()
    {
        // Managed only; IDisposable because the model store's provider requires it.
    }
}
