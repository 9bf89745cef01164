namespace Serverless.Quantization;

/// <summary>How <see cref="FidelityComparer"/> measures a quantized export against fp32.</summary>
public sealed record FidelityOptions
{
    /// <summary>Prompts teacher-forced through both models: some fixed texts, the rest random token ids of varied lengths.</summary>
    public int Prompts { get; init; } = 40;

    /// <summary>Decoder steps per prompt: the fp32 model's greedy continuation with end-of-sequence masked.</summary>
    public int StepsPerPrompt { get; init; } = 64;

    /// <summary>A goldens.json whose <c>greedy</c> cases are replayed on the quantized model; null skips it.</summary>
    public string? GoldensPath { get; init; }

    public int IntraOpThreads { get; init; }
}
