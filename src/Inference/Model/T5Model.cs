using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Serverless.Inference.Generation;
using Serverless.Inference.Tokenization;

namespace Serverless.Inference.Model;

/// <summary>
/// A flan-T5 model exported to ONNX in the Hugging Face Optimum layout, loaded once and shared by concurrent callers.
/// </summary>
/// <remarks>
/// The ONNX Runtime sessions are created once per model and are safe to run concurrently; every call keeps its own
/// decoder state. Decoding runs on a thread-pool thread, so async callers are never blocked. Cancellation is
/// checked between decoder steps: a call cancelled before it starts throws <see cref="OperationCanceledException"/>;
/// <see cref="GenerateAsync(IReadOnlyList{string}, GenerationOptions, CancellationToken)"/> cancelled mid-way
/// returns what was generated so far with <see cref="FinishReason.Cancelled"/>, while
/// <see cref="StreamAsync"/> stops and throws <see cref="OperationCanceledException"/>.
/// Dispose the model only once no call is running.
/// </remarks>
public sealed class T5Model : IDisposable
{
    private readonly InferenceSession _encoder;
    private readonly InferenceSession _decoder;          // merged, or the decoder without past
    private readonly InferenceSession? _decoderWithPast; // split layout only
    private readonly SessionOptions _sessionOptions;
    private bool _disposed;

    private T5Model(ModelFiles files, T5Config config, T5Tokenizer tokenizer, ModelOptions options, SessionOptions sessionOptions,
        InferenceSession encoder, InferenceSession decoder, InferenceSession? decoderWithPast, GenerationOptions defaults)
    {
        Files = files;
        Config = config;
        Tokenizer = tokenizer;
        Options = options;
        _sessionOptions = sessionOptions;
        _encoder = encoder;
        _decoder = decoder;
        _decoderWithPast = decoderWithPast;
        DefaultGenerationOptions = defaults;
        Names = new DecoderNames(config.NumDecoderLayers);
        WithPastTakesEncoderHiddenStates = decoderWithPast?.InputMetadata.ContainsKey("encoder_hidden_states") ?? false;
    }

    /// <summary>Loads a model folder (files at the top or under <c>onnx/</c>).</summary>
    /// <exception cref="ModelFormatException">A file is missing or does not match <c>config.json</c>.</exception>
    public static T5Model Load(string directory, ModelOptions? options = null)
    {
        options ??= new ModelOptions();
        if (options.IntraOpThreads < 0)
            throw new ArgumentOutOfRangeException(nameof(options), $"IntraOpThreads must be 0 (one per core) or more; got {options.IntraOpThreads}.");
        if (options.MaxNewTokensCeiling < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"MaxNewTokensCeiling must be at least 1; got {options.MaxNewTokensCeiling}.");
        if (options.MaxBatchRows < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"MaxBatchRows must be at least 1; got {options.MaxBatchRows}.");

        ModelFiles files = ModelFiles.Locate(directory, options.UseQuantized);
        T5Config config = T5Config.Load(files.Config, files.GenerationConfig);
        GenerationOptions defaults = ReadGenerationDefaults(files.GenerationConfig);
        T5Tokenizer tokenizer = T5Tokenizer.FromFile(files.SentencePiece);

        var sessionOptions = new SessionOptions
        {
            GraphOptimizationLevel = options.GraphOptimizationLevel,
            IntraOpNumThreads = options.IntraOpThreads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        var created = new List<InferenceSession>();
        try
        {
            InferenceSession Open(string path)
            {
                try
                {
                    var session = new InferenceSession(path, sessionOptions);
                    created.Add(session);
                    return session;
                }
                catch (OnnxRuntimeException e)
                {
                    throw new ModelFormatException($"{Path.GetFileName(path)} in '{Path.GetDirectoryName(path)}' could not be loaded by ONNX Runtime: {e.Message}", e);
                }
            }

            InferenceSession encoder = Open(files.Encoder);
            GraphContract.CheckEncoder(encoder, files.Encoder, config);
            InferenceSession decoder;
            InferenceSession? withPast = null;
            if (files.MergedDecoder is not null)
            {
                decoder = Open(files.MergedDecoder);
                GraphContract.CheckDecoder(decoder, files.MergedDecoder, config, GraphContract.DecoderKind.Merged);
            }
            else
            {
                decoder = Open(files.Decoder!);
                GraphContract.CheckDecoder(decoder, files.Decoder!, config, GraphContract.DecoderKind.NoPast);
                withPast = Open(files.DecoderWithPast!);
                GraphContract.CheckDecoder(withPast, files.DecoderWithPast!, config, GraphContract.DecoderKind.WithPast);
            }
            return new T5Model(files, config, tokenizer, options, sessionOptions, encoder, decoder, withPast, defaults);
        }
        catch
        {
            foreach (InferenceSession session in created)
                session.Dispose();
            sessionOptions.Dispose();
            throw;
        }
    }

    public T5Tokenizer Tokenizer { get; }

    /// <summary>The encoder's input limit in tokens (<c>n_positions</c>).</summary>
    public int ContextWindow => Config.NPositions;

    /// <summary>The options this model was loaded with.</summary>
    public ModelOptions Options { get; }

    /// <summary>
    /// The folder's <c>generation_config.json</c> applied over <see cref="GenerationOptions"/>' defaults; start from
    /// it (<c>model.DefaultGenerationOptions with { ... }</c>) to honour the model's own defaults.
    /// </summary>
    public GenerationOptions DefaultGenerationOptions { get; }

    /// <summary>Whether the merged decoder (one graph with <c>use_cache_branch</c>) is in use.</summary>
    public bool IsMerged => _decoderWithPast is null;

    internal T5Config Config { get; }
    internal ModelFiles Files { get; }
    internal DecoderNames Names { get; }
    internal InferenceSession Encoder => _encoder;
    internal InferenceSession FirstDecoder => _decoder;
    internal InferenceSession NextDecoder => _decoderWithPast ?? _decoder;
    internal InferenceSession? DecoderWithPast => _decoderWithPast;
    internal bool WithPastTakesEncoderHiddenStates { get; }

    /// <summary>Completes prompts as one or more batches; results are in prompt order.</summary>
    /// <exception cref="PromptTooLongException">A prompt exceeds the context window and truncation is off.</exception>
    /// <exception cref="InvalidGenerationOptionsException">An option is out of range.</exception>
    public Task<IReadOnlyList<GenerationResult>> GenerateAsync(
        IReadOnlyList<string> prompts, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(options);
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        Generator.ValidateOptions(this, options);
        return Task.Run(() => Generator.Generate(this, PromptSource.FromText(prompts), options, null, cancellationToken), cancellationToken);
    }

    /// <summary>Completes already tokenized prompts (each ending with <c>&lt;/s&gt;</c> as the tokenizer makes them).</summary>
    public Task<IReadOnlyList<GenerationResult>> GenerateAsync(
        IReadOnlyList<int[]> inputIds, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        ArgumentNullException.ThrowIfNull(options);
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        Generator.ValidateOptions(this, options);
        return Task.Run(() => Generator.Generate(this, PromptSource.FromIds(inputIds), options, null, cancellationToken), cancellationToken);
    }

    /// <summary>Completes prompts synchronously on the calling thread (benchmarks and tools).</summary>
    public IReadOnlyList<GenerationResult> Generate(IReadOnlyList<int[]> inputIds, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        ArgumentNullException.ThrowIfNull(options);
        ThrowIfDisposed();
        Generator.ValidateOptions(this, options);
        return Generator.Generate(this, PromptSource.FromIds(inputIds), options, null, cancellationToken);
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
        ArgumentNullException.ThrowIfNull(options);
        ThrowIfDisposed();
        Generator.ValidateOptions(this, options);
        return Generator.Stream(this, PromptSource.FromText([prompt]), options, cancellationToken);
    }

    /// <summary>Streams the completion of one already tokenized prompt.</summary>
    public IAsyncEnumerable<string> StreamAsync(int[] inputIds, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        ArgumentNullException.ThrowIfNull(options);
        ThrowIfDisposed();
        Generator.ValidateOptions(this, options);
        return Generator.Stream(this, PromptSource.FromIds([inputIds]), options, cancellationToken);
    }

    internal void Run(InferenceSession session, RunOptions runOptions, OrtIoBinding binding)
    {
        try
        {
            session.RunWithBinding(runOptions, binding);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InferenceException($"ONNX Runtime failed to run the model in '{Files.Directory}': {e.Message}", e);
        }
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _encoder.Dispose();
        _decoder.Dispose();
        _decoderWithPast?.Dispose();
        _sessionOptions.Dispose();
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private static GenerationOptions ReadGenerationDefaults(string? path)
    {
        var options = new GenerationOptions();
        if (path is null)
            return options;
        using JsonDocument document = T5Config.Parse(path);
        JsonElement root = document.RootElement;
        int? Int(string name) => T5Config.TryInt(root, name);
        double? Double(string name) => root.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
        bool? Bool(string name) => root.TryGetProperty(name, out JsonElement v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : null;
        return options with
        {
            MaxNewTokens = Int("max_new_tokens") ?? options.MaxNewTokens,
            MinNewTokens = Int("min_new_tokens") ?? options.MinNewTokens,
            DoSample = Bool("do_sample") ?? options.DoSample,
            Temperature = Double("temperature") ?? options.Temperature,
            TopK = Int("top_k") ?? options.TopK,
            TopP = Double("top_p") ?? options.TopP,
            NumBeams = Int("num_beams") ?? options.NumBeams,
            LengthPenalty = Double("length_penalty") ?? options.LengthPenalty,
            EarlyStopping = Bool("early_stopping") ?? options.EarlyStopping,
            RepetitionPenalty = Double("repetition_penalty") ?? options.RepetitionPenalty,
            NoRepeatNgramSize = Int("no_repeat_ngram_size") ?? options.NoRepeatNgramSize,
        };
    }

    /// <summary>The Optimum input and output names per decoder layer, built once (no string formatting per step).</summary>
    internal sealed class DecoderNames
    {
        public DecoderNames(int layers)
        {
            PastDecoder = Build("past_key_values", "decoder", layers);
            PastEncoder = Build("past_key_values", "encoder", layers);
            PresentDecoder = Build("present", "decoder", layers);
            PresentEncoder = Build("present", "encoder", layers);
        }

        /// <summary>[2 * layer + 0] is the key, [2 * layer + 1] the value.</summary>
        public string[] PastDecoder { get; }
        public string[] PastEncoder { get; }
        public string[] PresentDecoder { get; }
        public string[] PresentEncoder { get; }

        private static string[] Build(string prefix, string part, int layers)
        {
            var names = new string[2 * layers];
            for (int i = 0; i < layers; i++)
            {
                names[2 * i] = $"{prefix}.{i}.{part}.key";
                names[2 * i + 1] = $"{prefix}.{i}.{part}.value";
            }
            return names;
        }
    }
}
