using Serverless.Inference.Generation;

namespace Serverless.Inference.Chat;

/// <summary>How a <see cref="T5ChatClient"/> names its model and which generation parameters it starts from.</summary>
public sealed record T5ChatClientOptions
{
    /// <summary>
    /// The model id reported in <see cref="Microsoft.Extensions.AI.ChatClientMetadata.DefaultModelId"/> and on every
    /// response. Null: the model folder's name when the client loads the folder, <c>t5</c> when it is given a loaded model.
    /// </summary>
    public string? ModelId { get; init; }

    /// <summary>
    /// The generation parameters a request's <see cref="Microsoft.Extensions.AI.ChatOptions"/> are applied over. Null: the
    /// model folder's <c>generation_config.json</c> over the engine's defaults (<c>model.DefaultGenerationOptions</c>).
    /// </summary>
    public GenerationOptions? DefaultGenerationOptions { get; init; }
}
