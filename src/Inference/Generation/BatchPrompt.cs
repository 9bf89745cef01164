namespace Serverless.Inference.Generation;

/// <summary>
/// One prompt of a decode batch (<see cref="RowSet.Prefill"/>): its own text or ids, its
/// own generation parameters and its own cancellation, so prompts of different callers can share the decoder's steps.
/// </summary>
internal sealed class BatchPrompt
{
    private BatchPrompt(string? text, int[]? ids, GenerationOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        Text = text;
        Ids = ids;
        Options = options;
        CancellationToken = cancellationToken;
    }

    /// <param name="text">The prompt, tokenized by the model's tokenizer.</param>
    /// <param name="options">This prompt's parameters; num_beams must be 1 (beam search runs in its own batch).</param>
    /// <param name="cancellationToken">Cancels this prompt only: its row leaves the batch with <see cref="FinishReason.Cancelled"/>.</param>
    public static BatchPrompt FromText(string text, GenerationOptions options, CancellationToken cancellationToken = default) =>
        new(text ?? throw new ArgumentNullException(nameof(text)), null, options, cancellationToken);

    /// <summary>A prompt whose tokens <paramref name="observer"/> sees as they are generated (streaming).</summary>
    public static BatchPrompt FromText(string text, GenerationOptions options, TokenObserver observer, CancellationToken cancellationToken = default) =>
        new(text ?? throw new ArgumentNullException(nameof(text)), null, options, cancellationToken)
        {
            Observer = (observer ?? throw new ArgumentNullException(nameof(observer))).Inner,
            TopLogProbs = observer.TopLogProbs,
        };

    /// <summary>An already tokenized prompt (ending with <c>&lt;/s&gt;</c> as the tokenizer makes them).</summary>
    public static BatchPrompt FromIds(int[] ids, GenerationOptions options, CancellationToken cancellationToken = default) =>
        new(null, ids ?? throw new ArgumentNullException(nameof(ids)), options, cancellationToken);

    public string? Text { get; }
    public int[]? Ids { get; }
    public GenerationOptions Options { get; }
    public CancellationToken CancellationToken { get; }

    /// <summary>The prompt's index in its call (what observers are told); 0 for a prompt of a shared batch.</summary>
    internal int Index { get; init; }
    /// <summary>Set when the call prepared the prompt already (a <see cref="ModelGeneration"/> call checks every prompt first).</summary>
    internal PreparedPrompt? Prepared { get; init; }
    /// <summary>When the call started (Stopwatch ticks), if before the prefill: the start of the result's timings.</summary>
    internal long CallStart { get; init; }
    internal ITokenObserver? Observer { get; init; }
    /// <summary>Alternatives per token whose log-probabilities the row computes (<see cref="TokenObserver.TopLogProbs"/>); null: none.</summary>
    internal int? TopLogProbs { get; init; }
    internal IScoreObserver? ScoreObserver { get; init; }

    internal static BatchPrompt FromPrepared(int index, PreparedPrompt prepared, GenerationOptions options, long callStart,
        ITokenObserver? observer, IScoreObserver? scoreObserver) =>
        new(null, prepared.Ids, options, CancellationToken.None)
        {
            Index = index,
            Prepared = prepared,
            CallStart = callStart,
            Observer = observer,
            ScoreObserver = scoreObserver,
        };

    /// <summary>Whether <paramref name="options"/> can share a batch with other prompts: greedy search or sampling (num_beams 1).</summary>
    public static bool CanShare(GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.NumBeams <= 1;
    }
}

/// <summary>
/// What became of one <see cref="BatchPrompt"/>: its result, or the error that kept it from running (an invalid
/// parameter, beam search, a prompt over the context window, a bad id) — an error of this prompt only.
/// </summary>
internal sealed record RowOutcome(BatchPrompt Prompt, GenerationResult? Result, Exception? Error);
