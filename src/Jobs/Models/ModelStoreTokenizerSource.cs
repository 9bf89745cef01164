using Serverless.ModelStore;

namespace Serverless.Jobs.Models;

/// <summary>The model store's provider of <see cref="SubmitTokenizer"/> (config.json, spiece.model and generation_config.json only). Each
/// acquire returns the current version; with <c>Model__RefreshMinutes</c> it follows a model replaced in storage.</summary>
internal sealed class ModelStoreTokenizerSource(ModelProvider<SubmitTokenizer> provider) : ITokenizerSource
{
    public ModelProvider<SubmitTokenizer> Provider { get; } = provider;

    public async Task<SubmitModel> AcquireAsync(CancellationToken cancellationToken)
    {
        using var lease = await Provider.AcquireAsync(cancellationToken).ConfigureAwait(false);
        return new SubmitModel(lease.Model.Tokenizer, lease.Model.ContextWindow, lease.Model.Defaults, lease.Model.RandomWeights);
    }
}
