namespace Serverless.Jobs.Models;

/// <summary>Where the submit gets the tokenizer, context window and generation defaults for its checks (the model store, in production).</summary>
internal interface ITokenizerSource
{
    /// <summary>The current tokenizer, window and defaults, loading them first if needed. Throws the model store's exceptions.</summary>
    Task<SubmitModel> AcquireAsync(CancellationToken cancellationToken);
}
