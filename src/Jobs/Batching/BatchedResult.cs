using Serverless.Inference.Generation;

namespace Serverless.Jobs.Batching;

/// <summary>A prompt's completion from the <see cref="PromptScheduler"/>, how long it waited for a decode batch, and which
/// batch of the instance ran it (1-based; prompts with the same number shared a batch).</summary>
internal sealed record BatchedResult(GenerationResult Result, TimeSpan QueueWait, long Batch);
