using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Serverless.Inference.Tokenization;

namespace Serverless.Inference.Model;

/// <summary>
/// A flan-T5 model exported to ONNX in the Hugging Face Optimum layout, loaded once and shared by concurrent callers.
/// </summary>
/// <remarks>
/// The ONNX Runtime sessions are created once per model and are safe to run concurrently; every call keeps its own
/// decoder state. This type knows the sessions, config and tokenizer; generation lives in <c>Generation/</c>
/// (<c>Serverless.Inference.Generation.ModelGeneration</c>: <c>model.GenerateAsync</c>, <c>model.StreamAsync</c>).
/// Dispose the model only once no call is running.
/// </remarks>
public sealed class T5Model : IDisposable
{
    private readonly InferenceSession _encoder;
    private readonly InferenceSession _decoder;          // merged, or the decoder without past
    private readonly InferenceSession? _decoderWithPast; // split layout only
    private readonly IReadOnlyList<SessionOptions> _sessionOptions;
    private bool _disposed;

    private T5Model(ModelFiles files, T5Config config, T5Tokenizer tokenizer, ModelOptions options, IReadOnlyList<SessionOptions> sessionOptions,
        InferenceSession encoder, InferenceSession decoder, InferenceSession? decoderWithPast, JsonElement? generationConfig,
        string? joinUnavailableReason)
    {
        Files = files;
        Config = config;
        Tokenizer = tokenizer;
        Options = options;
        _sessionOptions = sessionOptions;
        _encoder = encoder;
        _decoder = decoder;
        _decoderWithPast = decoderWithPast;
        GenerationConfig = generationConfig;
        Names = new DecoderNames(config.NumDecoderLayers);
        WithPastTakesEncoderHiddenStates = decoderWithPast?.InputMetadata.ContainsKey("encoder_hidden_states") ?? false;
        FirstDecoderTakesMask = decoder.InputMetadata.ContainsKey(DecoderMaskInput);
        CanJoinRunningBatch = (decoderWithPast ?? decoder).InputMetadata.ContainsKey(DecoderMaskInput);
        JoinUnavailableReason = CanJoinRunningBatch ? null : joinUnavailableReason ?? "the with-past decoder takes no decoder_attention_mask";
    }

    /// <summary>
    /// Loads a model folder in the Optimum layout (files at the top or under <c>onnx/</c>): <c>config.json</c>,
    /// <c>spiece.model</c>, <c>encoder_model.onnx</c>, and <c>decoder_model.onnx</c> with
    /// <c>decoder_with_past_model.onnx</c> or <c>decoder_model_merged.onnx</c>; <c>generation_config.json</c> when present
    /// gives <c>model.DefaultGenerationOptions</c>. Takes seconds and the model's size in memory: load once, share.
    /// </summary>
    /// <param name="directory">The model folder.</param>
    /// <param name="options">How to load it (fp32 or quantized, threads, batch size); null for the defaults.</param>
    /// <exception cref="ModelFormatException">A file is missing, cannot be loaded by ONNX Runtime or does not match
    /// <c>config.json</c>; the message names the file.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range (see <see cref="ModelOptions"/>).</exception>
    public static T5Model Load(string directory, ModelOptions? options = null)
    {
        options ??= new ModelOptions();
        if (options.IntraOpThreads < 0)
            throw new ArgumentOutOfRangeException(nameof(options), $"IntraOpThreads must be 0 (one per core) or more; got {options.IntraOpThreads}.");
        if (options.MaxNewTokensCeiling < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"MaxNewTokensCeiling must be at least 1; got {options.MaxNewTokensCeiling}.");
        if (options.MaxBatchRows < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"MaxBatchRows must be at least 1; got {options.MaxBatchRows}.");

        var files = ModelFiles.Locate(directory, options.UseQuantized);
        var config = T5Config.Load(files.Config, files.GenerationConfig);
        var generationConfig = ReadGenerationConfig(files.GenerationConfig);
        var tokenizer = T5Tokenizer.FromFile(files.SentencePiece);

        SessionOptions NewSessionOptions() => new()
        {
            GraphOptimizationLevel = options.GraphOptimizationLevel,
            IntraOpNumThreads = options.IntraOpThreads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        var sessionOptions = NewSessionOptions();
        var allSessionOptions = new List<SessionOptions> { sessionOptions };
        var created = new List<InferenceSession>();
        var opening = new List<Task>();
        try
        {
            InferenceSession Open(string path, byte[]? graph = null)
            {
                try
                {
                    var session = graph is null ? new InferenceSession(path, sessionOptions) : new InferenceSession(graph, FromMemoryOptions(path));
                    lock (created) created.Add(session);
                    return session;
                }
                catch (OnnxRuntimeException e)
                {
                    throw new ModelFormatException($"{Path.GetFileName(path)} in '{Path.GetDirectoryName(path)}' could not be loaded by ONNX Runtime: {e.Message}", e);
                }
            }

            // A graph opened from memory has no folder of its own: its external weights (<graph>.onnx_data, as `serverless model
            // upload` stores them) are found through this setting. It overrides the folder of every graph opened with the same
            // options, so each graph opened from memory gets options of its own.
            SessionOptions FromMemoryOptions(string path)
            {
                var fromMemory = NewSessionOptions();
                lock (allSessionOptions) allSessionOptions.Add(fromMemory);
                fromMemory.AddSessionConfigEntry("session.model_external_initializers_file_folder_path", Path.GetDirectoryName(path)!);
                return fromMemory;
            }

            // The with-past decoder (or the merged one) of a stock export runs with decoder_attention_mask added in memory, so
            // rows can join a running batch (DecoderMaskGraph); the file stays as it is. Not recognised: as exported, no joins.
            string? joinUnavailableReason = null;
            InferenceSession OpenWithPast(string path)
            {
                (var graph, joinUnavailableReason) = DecoderMaskGraph.ForLoad(path, options.AddDecoderMask);
                if (graph is null)
                    return Open(path);
                try
                {
                    return Open(path, graph);
                }
                catch (ModelFormatException e)
                {
                    joinUnavailableReason = $"ONNX Runtime refused {Path.GetFileName(path)} with {DecoderMaskInput} added ({e.InnerException?.Message}); " +
                        "new prompts wait for the running batch to finish";
                    return Open(path);
                }
            }

            // The graphs are opened side by side: a session's creation (parsing, graph optimization) runs mostly on one core,
            // and on a new instance it is a large part of the cold start (docs/cold-start.md). Each on a thread of its own, not
            // the thread pool's: on a new instance the host is starting beside the load and needs the pool's few threads.
            Task<InferenceSession> Start(string path, bool withPast = false)
            {
                var task = Task.Factory.StartNew(() => withPast ? OpenWithPast(path) : Open(path), CancellationToken.None,
                    TaskCreationOptions.LongRunning, TaskScheduler.Default);
                opening.Add(task);
                return task;
            }
            var (encoding, decoding) = (Start(files.Encoder), files.MergedDecoder is null ? Start(files.Decoder!) : Start(files.MergedDecoder, withPast: true));
            var withPastOpening = files.MergedDecoder is null ? Start(files.DecoderWithPast!, withPast: true) : null;

            var encoder = encoding.GetAwaiter().GetResult();
            GraphContract.CheckEncoder(encoder, files.Encoder, config);
            InferenceSession decoder;
            InferenceSession? withPast = null;
            if (files.MergedDecoder is not null)
            {
                decoder = decoding.GetAwaiter().GetResult();
                GraphContract.CheckDecoder(decoder, files.MergedDecoder, config, GraphContract.DecoderKind.Merged);
            }
            else
            {
                decoder = decoding.GetAwaiter().GetResult();
                GraphContract.CheckDecoder(decoder, files.Decoder!, config, GraphContract.DecoderKind.NoPast);
                withPast = withPastOpening!.GetAwaiter().GetResult();
                GraphContract.CheckDecoder(withPast, files.DecoderWithPast!, config, GraphContract.DecoderKind.WithPast);
            }
            return new T5Model(files, config, tokenizer, options, allSessionOptions, encoder, decoder, withPast, generationConfig, joinUnavailableReason);
        }
        catch
        {
            // The other graphs may still be opening: let them finish, then dispose every session made.
            foreach (var task in opening) ((IAsyncResult)task).AsyncWaitHandle.WaitOne();
            foreach (var session in created)
                session.Dispose();
            foreach (var used in allSessionOptions)
                used.Dispose();
            throw;
        }
    }

    /// <summary>The model's tokenizer (its <c>spiece.model</c>): count or inspect tokens as the engine sees them.</summary>
    public T5Tokenizer Tokenizer { get; }

    /// <summary>The encoder's input limit in tokens (<c>n_positions</c>).</summary>
    public int ContextWindow => Config.NPositions;

    /// <summary>The options this model was loaded with.</summary>
    public ModelOptions Options { get; }

    /// <summary>The root object of the folder's <c>generation_config.json</c>, if it has one (generation defaults).</summary>
    internal JsonElement? GenerationConfig { get; }

    /// <summary>Whether the merged decoder (one graph with <c>use_cache_branch</c>) is in use.</summary>
    internal bool IsMerged => _decoderWithPast is null;

    internal T5Config Config { get; }
    internal ModelFiles Files { get; }
    internal DecoderNames Names { get; }
    internal InferenceSession Encoder => _encoder;
    internal InferenceSession FirstDecoder => _decoder;
    internal InferenceSession NextDecoder => _decoderWithPast ?? _decoder;
    internal InferenceSession? DecoderWithPast => _decoderWithPast;
    internal bool WithPastTakesEncoderHiddenStates { get; }

    /// <summary>
    /// The decoder self-attention mask input of the project's own export (<c>scripts/reference/export_onnx.py</c> with the
    /// mask; stock Optimum T5 decoders do not have it): [batch, past + 1], 1 = attend, 0 = padding.
    /// </summary>
    internal const string DecoderMaskInput = "decoder_attention_mask";

    /// <summary>
    /// Whether new prompts can join a running decode batch: the with-past decoder takes a decoder self-attention mask, so
    /// rows at different positions share a step (a joining row's cache is left-padded and the padding masked; T5's
    /// positions are relative, so padding shifts nothing). Stock Optimum exports cannot: their new prompts wait for the
    /// next batch.
    /// </summary>
    internal bool CanJoinRunningBatch { get; }

    /// <summary>
    /// Why new prompts cannot join a running batch on this model (null when <see cref="CanJoinRunningBatch"/>): a stock
    /// decoder whose graph the engine did not recognise, or <see cref="ModelOptions.AddDecoderMask"/> off. Log it once.
    /// </summary>
    public string? JoinUnavailableReason { get; }

    /// <summary>Whether the first-step graph declares the mask too (the merged decoder of the mask export).</summary>
    internal bool FirstDecoderTakesMask { get; }

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

    /// <summary>Releases the ONNX Runtime sessions. Call it once no call on the model is running; later calls throw
    /// <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _encoder.Dispose();
        _decoder.Dispose();
        _decoderWithPast?.Dispose();
        foreach (var options in _sessionOptions)
            options.Dispose();
    }

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private static JsonElement? ReadGenerationConfig(string? path)
    {
        if (path is null)
            return null;
        using var document = T5Config.Parse(path);
        return document.RootElement.Clone();
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
            for (var i = 0; i < layers; i++)
            {
                names[2 * i] = $"{prefix}.{i}.{part}.key";
                names[2 * i + 1] = $"{prefix}.{i}.{part}.value";
            }
            return names;
        }
    }
}
