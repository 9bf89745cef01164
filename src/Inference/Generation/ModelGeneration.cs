using Serverless.Inference.Model;

namespace Serverless.Inference.Generation;

/// <summary>
/// Generation on a loaded <see cref="T5Model"/>, as extension members: <c>model.GenerateAsync</c> (many prompts, run as
/// shared batches of up to <see cref="ModelOptions.MaxBatchRows"/> rows), <c>model.StreamAsync</c> (text pieces),
/// <c>model.StartTokenStream</c> (tokens, then the result) and <c>model.DefaultGenerationOptions</c>. Greedy search,
/// sampling and beam search, as <see cref="GenerationOptions"/> ask.
/// </summary>
/// <remarks>
/// Every call validates its options first and throws <see cref="InvalidGenerationOptionsException"/> before any work.
/// Decoding runs on a thread of its own, so async callers are never blocked; calls may run concurrently on one model.
/// Cancellation is checked between decoder steps: a call cancelled before it starts throws
/// <see cref="OperationCanceledException"/>; <c>GenerateAsync</c> cancelled mid-way returns what was generated so far
/// with <see cref="FinishReason.Cancelled"/>, while <c>StreamAsync</c> stops and throws
/// <see cref="OperationCanceledException"/>. A model disposed before the call throws <see cref="ObjectDisposedException"/>.
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

        /// <summary>Completes prompts as one or more shared batches; results are in prompt order.</summary>
        /// <param name="prompts">The prompts, tokenized by <see cref="T5Model.Tokenizer"/> (<c>&lt;/s&gt;</c> appended).</param>
        /// <param name="options">The generation parameters of every prompt of the call.</param>
        /// <param name="cancellationToken">Stops every prompt before the next decoder step.</param>
        /// <returns>One result per prompt.</returns>
        /// <exception cref="PromptTooLongException">A prompt exceeds the context window and truncation is off (the task
        /// faults before any batch runs); its <see cref="PromptTooLongException.PromptIndex"/> is the prompt's index in
        /// <paramref name="prompts"/>.</exception>
        /// <exception cref="InvalidGenerationOptionsException">An option is out of range.</exception>
        /// <exception cref="InferenceException">ONNX Runtime failed to run the model.</exception>
        public Task<IReadOnlyList<GenerationResult>> GenerateAsync(
            IReadOnlyList<string> prompts, GenerationOptions options, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(prompts);
            Start(model, options);
            cancellationToken.ThrowIfCancellationRequested();
            return DecodeThread.Run(() => Generator.Generate(model, PromptSource.FromText(prompts), options, null, cancellationToken), cancellationToken);
        }

        /// <summary>Completes already tokenized prompts (each ending with <c>&lt;/s&gt;</c> as the tokenizer makes them).</summary>
        /// <param name="inputIds">Each prompt's ids, every one in [0, vocabulary size).</param>
        /// <param name="options">The generation parameters of every prompt of the call.</param>
        /// <param name="cancellationToken">Stops every prompt before the next decoder step.</param>
        /// <returns>One result per prompt, in order.</returns>
        /// <exception cref="ArgumentException">A prompt is empty or holds an id outside the vocabulary (the task faults).</exception>
        /// <exception cref="PromptTooLongException">A prompt exceeds the context window and truncation is off.</exception>
        /// <exception cref="InvalidGenerationOptionsException">An option is out of range.</exception>
        public Task<IReadOnlyList<GenerationResult>> GenerateAsync(
            IReadOnlyList<int[]> inputIds, GenerationOptions options, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(inputIds);
            Start(model, options);
            cancellationToken.ThrowIfCancellationRequested();
            return DecodeThread.Run(() => Generator.Generate(model, PromptSource.FromIds(inputIds), options, null, cancellationToken), cancellationToken);
        }

        /// <summary>
        /// Completes already tokenized prompts synchronously on the calling thread, which it holds for the whole
        /// generation (tools and benchmarks; prefer <c>GenerateAsync</c> in a server).
        /// </summary>
        /// <param name="inputIds">Each prompt's ids, every one in [0, vocabulary size).</param>
        /// <param name="options">The generation parameters of every prompt of the call.</param>
        /// <param name="cancellationToken">Stops every prompt before the next decoder step.</param>
        /// <returns>One result per prompt, in order.</returns>
        /// <exception cref="ArgumentException">A prompt is empty or holds an id outside the vocabulary.</exception>
        /// <exception cref="PromptTooLongException">A prompt exceeds the context window and truncation is off.</exception>
        /// <exception cref="InvalidGenerationOptionsException">An option is out of range.</exception>
        public IReadOnlyList<GenerationResult> Generate(IReadOnlyList<int[]> inputIds, GenerationOptions options, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(inputIds);
            Start(model, options);
            return Generator.Generate(model, PromptSource.FromIds(inputIds), options, null, cancellationToken);
        }

        /// <summary>Streams the text of one completion piece by piece as tokens are produced.</summary>
        /// <param name="prompt">The prompt, tokenized by <see cref="T5Model.Tokenizer"/>.</param>
        /// <param name="options">The generation parameters.</param>
        /// <param name="cancellationToken">Stops the decode loop; the enumeration then throws <see cref="OperationCanceledException"/>.</param>
        /// <returns>Non-empty text pieces; leaving the enumeration early stops the decode loop.</returns>
        /// <exception cref="PromptTooLongException">The prompt exceeds the context window and truncation is off (thrown by
        /// the enumeration).</exception>
        /// <exception cref="InvalidGenerationOptionsException">An option is out of range.</exception>
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

        /// <summary>Starts completing one prompt on a thread of its own and streams its tokens with their text
        /// (<see cref="StreamedToken"/>), then its result; with num_beams &gt; 1 the tokens arrive when the search ends.</summary>
        /// <param name="prompt">The prompt, tokenized by <see cref="T5Model.Tokenizer"/>.</param>
        /// <param name="options">The generation parameters.</param>
        /// <param name="cancellationToken">Stops the decode loop before its next step.</param>
        /// <returns>The running completion: read its tokens, then await its result.</returns>
        /// <exception cref="InvalidGenerationOptionsException">An option is out of range.</exception>
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

        /// <summary>Streams the completion of one already tokenized prompt, as the text overload does.</summary>
        /// <param name="inputIds">The prompt's ids, every one in [0, vocabulary size), ending with <c>&lt;/s&gt;</c>.</param>
        /// <param name="options">The generation parameters.</param>
        /// <param name="cancellationToken">Stops the decode loop; the enumeration then throws <see cref="OperationCanceledException"/>.</param>
        /// <returns>Non-empty text pieces; leaving the enumeration early stops the decode loop.</returns>
        /// <exception cref="InvalidGenerationOptionsException">An option is out of range.</exception>
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
