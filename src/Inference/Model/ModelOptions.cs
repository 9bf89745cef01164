using Microsoft.ML.OnnxRuntime;

namespace Serverless.Inference.Model;

/// <summary>How to load and run a model (<see cref="T5Model.Load"/>).</summary>
public sealed record ModelOptions
{
    /// <summary>
    /// Load the <c>*_quantized.onnx</c> files (8-bit weights, e.g. Optimum's dynamic quantization) instead of the fp32
    /// ones; <see cref="ModelFormatException"/> when the folder has none. The tokenizer and config are the same.
    /// </summary>
    public bool UseQuantized { get; init; }
    /// <summary>Threads inside one ONNX Runtime operator; 0 (the default) lets ONNX Runtime choose one per core.</summary>
    public int IntraOpThreads { get; init; }
    /// <summary>ONNX Runtime's graph optimizations applied when the sessions are created; all of them by default.</summary>
    public GraphOptimizationLevel GraphOptimizationLevel { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;
    /// <summary>
    /// The largest <see cref="Generation.GenerationOptions.MaxNewTokens"/> a call may ask for (at least 1; 512 by default):
    /// a larger one is refused with <see cref="InvalidGenerationOptionsException"/>.
    /// </summary>
    public int MaxNewTokensCeiling { get; init; } = 512;
    /// <summary>
    /// The most decoder rows (prompts × num_beams) run as one batch (at least 1; 32 by default); a call with more prompts
    /// runs several batches one after another. Bounds the memory of the KV cache.
    /// </summary>
    public int MaxBatchRows { get; init; } = 32;
    /// <summary>
    /// Rewrite a stock Optimum with-past decoder in memory so that it takes <c>decoder_attention_mask</c> and new prompts
    /// can join a running batch (docs/continuous-batching.md). Off: a stock export runs as exported (no joins).
    /// </summary>
    public bool AddDecoderMask { get; init; } = true;
}
