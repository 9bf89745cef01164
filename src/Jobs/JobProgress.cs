namespace Serverless.Jobs;

/// <summary>How far a running job is: <c>prompts_done</c> of <c>prompts_total</c>, <c>tokens_generated</c> by those prompts.
/// Written after a batch of prompts finishes, at most every <see cref="PromptJobsOptions.ProgressInterval"/>.</summary>
internal sealed record JobProgress(int PromptsDone, int PromptsTotal, int TokensGenerated);
