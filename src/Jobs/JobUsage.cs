namespace Serverless.Jobs;

/// <summary>Totals over a finished job's prompts, kept on the record so a status poll needs no second read.</summary>
internal sealed record JobUsage(int InputTokens, int OutputTokens, double TokensPerSecond, double DurationMs);
