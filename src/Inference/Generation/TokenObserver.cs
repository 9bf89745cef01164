using System.Threading.Channels;
using Serverless.Inference.Model;

namespace Serverless.Inference.Generation;

/// <summary>
/// A streamed row's tokens: give it to a prompt (<see cref="BatchPrompt.FromText(string, GenerationOptions, TokenObserver, CancellationToken)"/>)
/// and read <see cref="Tokens"/> while the row runs in a <see cref="RowSet"/>; the row's owner calls <see cref="Complete"/>
/// with its result (or <see cref="End"/>), which sends what was held back and ends the stream. The texts add up to the
/// result's text (a piece is held back while it could still be the start of a stop string).
/// </summary>
internal sealed class TokenObserver
{
    private readonly Channel<StreamedToken> _channel =
        Channel.CreateUnbounded<StreamedToken>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly TokenStreamObserver _observer;

    public TokenObserver(T5Model model, GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        _observer = new TokenStreamObserver(model.Tokenizer, options.StopStrings, _channel.Writer);
    }

    /// <summary>Most likely alternatives to list per token (0 to <see cref="MaxTopLogProbs"/>): with a value, the row
    /// computes each step's log-probabilities (<see cref="StreamedToken.LogProbs"/>, <see cref="GenerationResult.LogProbs"/>);
    /// null (the default) computes none. Greedy search and sampling rows only (num_beams 1).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Below 0 or above <see cref="MaxTopLogProbs"/>.</exception>
    public int? TopLogProbs
    {
        get;
        init
        {
            if (value is < 0 or > MaxTopLogProbs)
                throw new ArgumentOutOfRangeException(nameof(value), value, $"TopLogProbs must be from 0 to {MaxTopLogProbs}.");
            field = value;
        }
    }

    /// <summary>The most alternatives <see cref="TopLogProbs"/> lists (OpenAI's own limit).</summary>
    public const int MaxTopLogProbs = 20;

    /// <summary>The tokens with their text, as they are generated.</summary>
    public ChannelReader<StreamedToken> Tokens => _channel.Reader;

    internal ITokenObserver Inner => _observer;

    /// <summary>The stream as a <see cref="TokenStream"/>: these tokens, then <paramref name="completion"/>.</summary>
    public TokenStream ToTokenStream(Task<GenerationResult> completion) => new(_channel.Reader, completion);

    /// <summary>Sends the tokens of <paramref name="result"/> not reported yet and ends the stream.</summary>
    public void Complete(GenerationResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        _observer.Finish(result);
        _channel.Writer.TryComplete();
    }

    /// <summary>Ends the stream as it is (the row failed or never ran: its error is the owner's to report).</summary>
    public void End() => _channel.Writer.TryComplete();
}
