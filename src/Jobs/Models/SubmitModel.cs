using Serverless.Inference.Generation;
using Serverless.Inference.Tokenization;

namespace Serverless.Jobs.Models;

/// <summary>What a submit checks a job against: the model's tokenizer and context window, and its generation defaults
/// (<c>generation_config.json</c>), which the job's parameters are applied over as the worker will; and whether its
/// <c>config.json</c> says it has random weights (<see cref="SubmitTokenizer.RandomWeights"/>).</summary>
internal sealed record SubmitModel(T5Tokenizer Tokenizer, int ContextWindow, GenerationOptions Defaults, bool RandomWeights = false);
