using System.Text.Json;
using Serverless.Inference.Model;
using Serverless.Inference.Tokenization;

namespace Serverless.Jobs.Models;

/// <summary>
/// What the submit needs to count a prompt's tokens: the tokenizer (<c>spiece.model</c>) and the context window
/// (<c>config.json</c>), loaded from just those two files rather than the whole model (about 375 MB for flan-t5-small).
/// </summary>
internal sealed class SubmitTokenizer(T5Tokenizer tokenizer, int contextWindow) : IDisposable
{
    /// <summary>The files it is loaded from (at the top of the model folder or under <c>onnx/</c>).</summary>
    public static readonly IReadOnlyCollection<string> Files = ["config.json", "spiece.model"];

    public T5Tokenizer Tokenizer { get; } = tokenizer;
    public int ContextWindow { get; } = contextWindow;

    public static SubmitTokenizer Load(string directory)
    {
        string Find(string name) =>
            new[] { Path.Combine(directory, name), Path.Combine(directory, "onnx", name) }.FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException($"{name} is missing from {directory}.", name);
        return new SubmitTokenizer(T5Tokenizer.FromFile(Find("spiece.model")), ReadContextWindow(Find("config.json")));
    }

    /// <summary><c>n_positions</c>, 512 when absent: the window <see cref="T5Model.ContextWindow"/> reports for the same file.</summary>
    private static int ReadContextWindow(string configPath)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(configPath));
        return document.RootElement.TryGetProperty("n_positions", out var n) && n.TryGetInt32(out var value) && value > 0 ? value : 512;
    }

    public void Dispose()
    {
        // Managed only; IDisposable because the model store's provider requires it.
    }
}
