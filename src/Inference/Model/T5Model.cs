using Serverless.Inference.Generation;
using Serverless.Inference.Tokenization;

namespace Serverless.Inference.Model;

/// <summary>
/// A flan-T5 model exported to ONNX in the Hugging Face Optimum layout, loaded once and shared by concurrent callers.
/// </summary>
public sealed class T5Model : IDisposable
{
    /// <summary>Loads a model folder (files at the top or under <c>onnx/</c>).</summary>
    /// <exception cref="ModelFormatException">A file is missing or does not match <c>config.json</c>.</exception>
    public static T5Model Load(string directory, ModelOptions? options = null) => throw new NotImplementedException();

    public T5Tokenizer Tokenizer => throw new NotImplementedException();

    /// <summary>The encoder's input limit in tokens (<c>n_positions</c>).</summary>
    public int ContextWindow => throw new NotImplementedException();

    /// <summary>Completes prompts as one or more batches; results are in prompt order.</summary>
    public Task<IReadOnlyList<GenerationResult>> GenerateAsync(
        IReadOnlyList<string> prompts, GenerationOptions options, CancellationToken cancellationToken = default)
        => throw new NotImplementedException();

    /// <summary>Streams the text of one completion piece by piece as tokens are produced.</summary>
    public IAsyncEnumerable<string> StreamAsync(string prompt, GenerationOptions options, CancellationToken cancellationToken = default)
        => throw new NotImplementedException();

    public void Dispose() => throw new NotImplementedException();
}
