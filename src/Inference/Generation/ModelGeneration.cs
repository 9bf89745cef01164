using Serverless.Inference.Model;

namespace Serverless.Inference.Generation;

/// <summary>
/// Generation on a loaded <see cref="T5Model"/>: the engine's public face. The model knows its sessions, config and
/// tokenizer; these members run the searches over it, so <c>Model/</c> never depends on <c>Generation/</c>. Prompts of
/// different callers share a decode batch through a <see cref="RowSet"/>, which its owner (a scheduler) drives step by step.
/// </summary>
/// <remarks>
/// Every call validates its options once, through <see cref="GenerationParameters"/>. Decoding runs on a thread-pool
/// thread, so async callers are never blocked. Cancellation is checked between decoder steps: a call cancelled before
/// it starts throws <see cref="OperationCanceledException"/>; <c>GenerateAsync</c> cancelled mid-way returns what was
/// generated so far with <see cref="FinishReason.Cancelled"/>, while <c>StreamAsync</c> stops and throws
/// <see cref="OperationCanceledException"/>.
/// </remarks>
public static class ModelGeneration
{
    extension(T5Model model)
    {
        /// <summary>
        /// The folder's <c>generation_config.json</c> applied over <see cref="GenerationOptions"/>' defaults; start from
        /// it (<c>model.DefaultGenerationOptions with { ... }</c>) to honour the model's own defaults.
        /// </summary>
        public GenerationOptions DefaultGenerationOptions =>
            model.GenerationConfig is { } root ? GenerationParameters.FromGenerationConfig(root) : new GenerationOptions();

        /// <summary>Completes prompts as one or more batches; results are in prompt order.</summary>
        /// <exception cref="PromptTooLongException">A prompt exceeds the context window and truncation is off; its
        /// <see cref="PromptTooLongException.PromptIndex"/> is the prompt's index in <paramref name="prompts"/>.</exception>
        /// <exception cref="InvalidGenerationOptionsException">An option is out of range.</exception>
        public Task<IReadOnlyList<GenerationResult>> GenerateAsync(
            IReadOnlyList<string> prompts, GenerationOptions options, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(prompts);
            Start(model, options);
            cancellationToken.ThrowIfCancellationRequested();
            return DecodeThread.Run(() => Generator.Generate(model, PromptSource.FromText(prompts), options, null, cancellationToken), cancellationToken);
        }

        /// <summary>Completes already tokenized prompts (each ending with <c>&lt;/s&gt;</c> as the tokenizer makes them).</summary>
        public Task<IReadOnlyList<GenerationResult>> GenerateAsync(
            IReadOnlyList<int[]> inputIds, GenerationOptions options, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(inputIds);
            Start(model, options);
            cancellationToken.ThrowIfCancellationRequested();
            return DecodeThread.Run(() => Generator.Generate(model, PromptSource.FromIds(inputIds), options, null, cancellationToken), cancellationToken);
        }

        /// <summary>Completes prompts synchronously on the calling thread (benchmarks and tools).</summary>
        public IReadOnlyList<GenerationResult> Generate(IReadOnlyList<int[]> inputIds, GenerationOptions options, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(inputIds);
            Start(model, options);
            return Generator.Generate(model, PromptSource.FromIds(inputIds), options, null, cancellationToken);
        }

        /// <summary>Streams the text of one completion piece by piece as tokens are produced.</summary>
        /// <remarks>
        /// The pieces concatenate to the result's text: a piece is held back while it could still be the start of a stop
        /// string or ends in an incomplete character. Cancellation throws <see cref="OperationCanceledException"/>.
        /// With num_beams &gt; 1 the best hypothesis is only known at the end, so the text arrives as one piece.
        /// </remarks>
        public IAsyncEnumerable<string> StreamAsync(string prompt, GenerationOptions options, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(prompt);
            Start(model, options);
            return Generator.Stream(model, PromptSource.FromText([prompt]), options, cancellationToken);
        }

        /// <summary>Starts completing one prompt on a thread-pool thread and streams its tokens with their text
        /// (<see cref="StreamedToken"/>), then its result; with num_beams &gt; 1 the tokens arrive when the search ends.</summary>
        /// <remarks>Cancelling <paramref name="cancellationToken"/> stops the loop before its next decoder step; the result
        /// then has <see cref="FinishReason.Cancelled"/>. Tokenizing errors (<see cref="PromptTooLongException"/>) fault
        /// <see cref="TokenStream.Completion"/>.</remarks>
        public TokenStream StartTokenStream(string prompt, GenerationOptions options, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(prompt);
            Start(model, options);
            cancellationToken.ThrowIfCancellationRequested();
            var channel = System.Threading.Channels.Channel.CreateUnbounded<StreamedToken>(
                new System.Threading.Channels.UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
            var observer = new TokenStreamObserver(model.Tokenizer, options.StopStrings, channel.Writer);
            var completion = DecodeThread.Run(() =>
            {
                try
                {
                    var result = Generator.Generate(model, PromptSource.FromText([prompt]), options, observer, cancellationToken)[0];
                    observer.Finish(result);
                    return result;
                }
                finally
                {
                    channel.Writer.TryComplete();
                }
            }, CancellationToken.None);
            return new TokenStream(channel.Reader, completion);
        }

        /// <summary>Streams the completion of one already tokenized prompt.</summary>
        public IAsyncEnumerable<string> StreamAsync(int[] inputIds, GenerationOptions options, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(inputIds);
            Start(model, options);
            return Generator.Stream(model, PromptSource.FromIds([inputIds]), options, cancellationToken);
        }
    }

    private static void Start(T5Model model, GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        model.ThrowIfDisposed();
        Generator.ValidateOptions(model, options);
    }
}
