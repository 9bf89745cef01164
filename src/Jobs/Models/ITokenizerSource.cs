using Serverless.Inference.Tokenization;

namespace Serverless.Jobs.Models;

/// <summary>Where the submit gets the tokenizer and context window for its length check (the model store, in production).</summary>
internal interface ITokenizerSource
{
    /// <summary>The current tokenizer and window, loading them first if needed. Throws the model store's exceptions.</summary>
    Task<(T5Tokenizer Tokenizer, int ContextWindow)> AcquireAsync(CancellationToken cancellationToken);
}
