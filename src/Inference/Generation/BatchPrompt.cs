namespace Serverless.Inference.Generation;

/// <summary>
/// One prompt of a shared decode batch (<see cref="ModelGeneration"/>'s <c>GenerateBatch</c>): its own text or ids, its
/// own generation parameters and its own cancellation, so prompts of different callers can share the decoder's steps.
/// </summary>
public sealed class BatchPrompt
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

    /// <summary>An already tokenized prompt (ending with <c>&lt;/s&gt;</c> as the tokenizer makes them).</summary>
    public static BatchPrompt FromIds(int[] ids, GenerationOptions options, CancellationToken cancellationToken = default) =>
        new(null, ids ?? throw new ArgumentNullException(nameof(ids)), options, cancellationToken);

    public string? Text { get; }
    public int[]? Ids { get; }
    public GenerationOptions Options { get; }
    public CancellationToken CancellationToken { get; }

    /// <summary>Whether <paramref name="options"/> can share a batch with other prompts: greedy search or sampling (num_beams 1).</summary>
    public static bool CanShare(GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.NumBeams <= 1;
    }
}

/// <summary>
/// What became of one <see cref="BatchPrompt"/>: its result, or the error that kept it from running (an invalid
/// parameter, a prompt over the context window, a bad id) — an error of this prompt only.
/// </summary>
public sealed record BatchPromptOutcome(GenerationResult? Result, Exception? Error);
