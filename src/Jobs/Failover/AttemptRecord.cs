namespace Serverless.Jobs.Failover;

/// <summary>One attempt's share of a job: on <see cref="Instance"/>, <see cref="PromptsResumed"/> prompts came from the
/// checkpoint of earlier attempts and <see cref="PromptsDecoded"/> were generated, <see cref="TokensGenerated"/> tokens.</summary>
internal sealed record AttemptRecord(int Attempt, string Instance, int PromptsResumed, int PromptsDecoded, int TokensGenerated);
