using Serverless.Inference.Generation;

namespace Serverless.Jobs;

/// <summary>The output <c>completions/{id}.json</c>: one result per prompt, in prompt order, with the model every result
/// ran on and the effective generation parameters (the job's over the model's <c>generation_config.json</c> defaults,
/// the rest Hugging Face's). Written once.</summary>
internal sealed record JobOutput(string Id, DateTimeOffset CreatedAt, IReadOnlyList<PromptResult> Results)
{
    public Models.JobModelInfo? Model { get; init; }
    public GenerationOptions? Parameters { get; init; }
}
