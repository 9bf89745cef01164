using System.Threading.Channels;

namespace Serverless.Inference.Generation;

/// <summary>
/// A completion being generated: its tokens as they come (<see cref="ReadAllAsync"/>) and, when it ends, the result
/// (<see cref="Completion"/>). Started by <c>model.StartTokenStream</c>.
/// </summary>
/// <remarks>
/// Cancelling the token given at the start stops the decode loop before its next step; <see cref="Completion"/> then
/// holds what was generated, with <see cref="FinishReason.Cancelled"/>.
/// </remarks>
public sealed class TokenStream
{
    private readonly ChannelReader<StreamedToken> _tokens;

    internal TokenStream(ChannelReader<StreamedToken> tokens, Task<GenerationResult> completion)
    {
        _tokens = tokens;
        Completion = completion;
    }

    /// <summary>The result, once the decode loop has ended (faults with the engine's exceptions).</summary>
    public Task<GenerationResult> Completion { get; }

    /// <summary>Tokens in order; ends when the decode loop ends.</summary>
    public IAsyncEnumerable<StreamedToken> ReadAllAsync(CancellationToken cancellationToken = default) => _tokens.ReadAllAsync(cancellationToken);
}
