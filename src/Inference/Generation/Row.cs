using System.Diagnostics;
using Serverless.Inference.Generation.Processing;
using Serverless.Inference.Model;

namespace Serverless.Inference.Generation;

/// <summary>
/// One prompt's row of a <see cref="RowSet"/>: its logits processors, sampler (seeded per prompt), stop strings, what
/// it generated so far, its timings and its observers. It chooses its own tokens (<see cref="Advance"/>) and builds its
/// result once (<see cref="Finish"/>).
/// </summary>
internal sealed class Row(BatchPrompt prompt, PreparedPrompt prepared, T5Model model, long admittedAt)
{
    private readonly LogitsProcessorPipeline _processors =
        LogitsProcessorPipeline.Create(prompt.Options, model.Config.EosTokenId, model.Config.DecoderStartTokenId);
    private readonly TokenSampler _sampler = new(prompt.Options);
    private readonly StopStringMatcher? _stops = prompt.Options.StopStrings.Count > 0 ? new StopStringMatcher(prompt.Options.StopStrings) : null;
    private readonly int[] _generated = new int[prompt.Options.MaxNewTokens];
    private readonly List<StepLogProbs>? _logProbs = prompt.TopLogProbs is not null ? new(prompt.Options.MaxNewTokens) : null;
    private int _length;

    public BatchPrompt Prompt { get; } = prompt;
    public PreparedPrompt Prepared { get; } = prepared;
    public long AdmittedAt { get; } = admittedAt;
    public long DecodeStart { get; set; }
    public long FirstTokenAt { get; set; }
    public long EncodeTicks { get; set; }
    /// <summary>The running stepper's ONNX Runtime ticks that were not this row's (before it joined), less its first step's.</summary>
    public long RunTicksBefore { get; set; }

    public ReadOnlySpan<int> Generated => _generated.AsSpan(0, _length);

    public bool Cancelled(CancellationToken all) => all.IsCancellationRequested || Prompt.CancellationToken.IsCancellationRequested;

    /// <summary>
    /// Chooses the row's next token from its scores (processors, then the sampler); returns why the row is done, if it
    /// is. The one place a row turns scores into a token: a hook that needs the processed scores goes here.
    /// </summary>
    public FinishReason? Advance(Span<float> scores, out int token)
    {
        token = model.Config.PadTokenId;
        if (Prompt.CancellationToken.IsCancellationRequested)
            return FinishReason.Cancelled;
        _processors.Process(scores, Generated);
        Prompt.ScoreObserver?.OnScores(Prompt.Index, _length, scores);
        token = _sampler.Next(scores);
        StepLogProbs? logProbs = null;
        if (_logProbs is not null)
        {
            logProbs = LogSoftmax.Of(scores, token, Prompt.TopLogProbs!.Value);
            _logProbs.Add(logProbs);
        }
        _generated[_length++] = token;
        FinishReason? reason = null;
        if (IsEos(model.Config, token))
            reason = FinishReason.Eos;
        else if (_stops is not null && _stops.TryFind(model.Tokenizer.Decode(Generated), out _))
            reason = FinishReason.Stop;
        else if (_length == Prompt.Options.MaxNewTokens)
            reason = FinishReason.Length;
        if (reason is null)
            Prompt.Observer?.OnToken(Prompt.Index, Generated, logProbs);
        return reason;
    }

    /// <summary>Builds the row's result: decodes the text and cuts it at the first stop string.</summary>
    /// <param name="reason">Why the row is done; <see cref="FinishReason.Stop"/> instead when the text holds a stop string
    /// (unless cancelled).</param>
    /// <param name="stepperRunTicks">The running stepper's ONNX Runtime time now (0 when the row never joined it).</param>
    public GenerationResult Finish(FinishReason reason, long stepperRunTicks)
    {
        var finishedAt = Stopwatch.GetTimestamp();
        var output = Generated;
        var text = model.Tokenizer.Decode(output, skipSpecialTokens: true);
        if (_stops is not null && _stops.TryFind(text, out var cut))
        {
            text = text[..cut];
            if (reason != FinishReason.Cancelled)
                reason = FinishReason.Stop;
        }
        var inside = EncodeTicks + (stepperRunTicks == 0 ? 0 : stepperRunTicks - RunTicksBefore);
        return new GenerationResult(text, output.ToArray(), reason, Prepared.Ids.Length, output.Length, model.ContextWindow,
            Prepared.TokensTruncated,
            new GenerationTimings(Prepared.Tokenize, Ticks(EncodeTicks),
                FirstTokenAt == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(AdmittedAt, FirstTokenAt),
                Stopwatch.GetElapsedTime(AdmittedAt, finishedAt),
                DecodeStart == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(DecodeStart, finishedAt),
                Ticks(inside)))
        {
            LogProbs = _logProbs?.ToArray(),
        };
    }

    internal static bool IsEos(T5Config config, int token)
    {
        foreach (var eos in config.EosTokenIds)
        {
            if (token == eos)
                return true;
        }
        return false;
    }

    private static TimeSpan Ticks(long stopwatchTicks) => TimeSpan.FromSeconds(stopwatchTicks / (double)Stopwatch.Frequency);
}
