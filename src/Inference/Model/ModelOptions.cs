using Microsoft.ML.OnnxRuntime;

namespace Serverless.Inference.Model;

/// <summary>How to load and run a model.</summary>
public sealed record ModelOptions
{
    /// <summary>Load the <c>*_quantized.onnx</c> variants.</summary>
    public bool UseQuantized { get; init; }
    /// <summary>Threads inside one operator; 0 lets ONNX Runtime choose (one per core).</summary>
    public int IntraOpThreads { get; init; }
    public GraphOptimizationLevel GraphOptimizationLevel { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;
    /// <summary>The largest <c>max_new_tokens</c> a request may ask for.</summary>
    public int MaxNewTokensCeiling { get; init; } = 512;
    /// <summary>
    /// The most decoder rows (prompts × num_beams) run as one batch; a call with more prompts runs several batches
    /// one after another. Bounds the memory of the KV cache.
    /// </summary>
    public int MaxBatchRows { get; init; } = 32;
    /// <summary>
    /// Rewrite a stock Optimum with-past decoder in memory so that it takes <c>decoder_attention_mask</c> and new prompts
    /// can join a running batch (docs/continuous-batching.md). Off: a stock export runs as exported (no joins).
    /// </summary>
    public bool AddDecoderMask { get; init; } = true;
}
