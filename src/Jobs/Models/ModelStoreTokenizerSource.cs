using Serverless.ModelStore;

namespace Serverless.Jobs.Models;

/// <summary>The model store's provider of <see cref="SubmitTokenizer"/> (config.json, spiece.model and generation_config.json only). Each
/// acquire returns the current version; with <c>Model__RefreshMinutes</c> it follows a model replaced in storage.</summary>
/// <param name="readiness">Told of every acquire's outcome, so health can say why the model cannot be served.</param>
internal sealed class ModelStoreTokenizerSource(ModelProvider<SubmitTokenizer> provider, ModelReadiness? readiness = null) : ITokenizerSource
{
    public ModelProvider<SubmitTokenizer> Provider { get; } = provider;

    public async Task<SubmitModel> AcquireAsync(CancellationToken cancellationToken)
    {
        ModelLease<SubmitTokenizer> acquired;
        try
        {
            acquired = await Provider.AcquireAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            readiness?.Failed(e);
            throw;
        }
        // The tokenizer files loading says nothing about the engine's files: only the full model's success clears an error.
        using var lease = acquired;
        return new SubmitModel(lease.Model.Tokenizer, lease.Model.ContextWindow, lease.Model.Defaults, lease.Model.RandomWeights);
    }
}
