using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Serverless.Inference.Generation.Processing;
using Serverless.Inference.Model;

namespace Serverless.Inference.Generation;

/// <summary>
/// One batch of prompts on its way through a search (<see cref="BeamSearch"/>): what it
/// needs, its timings, and where its results go. The per-step state lives in the <see cref="DecoderStepper"/>.
/// </summary>
internal sealed class DecodeBatch(T5Model model, ArraySegment<PreparedPrompt> prompts, int offset, GenerationOptions options,
    ITokenObserver? observer, long callStart, GenerationResult[] results, CancellationToken cancellationToken)
{
    public T5Model Model { get; } = model;
    public ArraySegment<PreparedPrompt> Prompts { get; } = prompts;
    public int Offset { get; } = offset;
    public GenerationOptions Options { get; } = options;
    public ITokenObserver? Observer { get; } = observer;
    public long CallStart { get; } = callStart;
    public GenerationResult[] Results { get; } = results;
    public CancellationToken CancellationToken { get; } = cancellationToken;
    public IScoreObserver? ScoreObserver { get; init; }
    public long EncodeTicks { get; set; }
    public long RunTicks { get; set; }

    /// <summary>Runs the encoder and starts a decoder over its output: one row per prompt and beam.</summary>
    public DecoderStepper StartDecoder(int beams)
    {
        var (hidden, mask) = Encode(beams);
        return new DecoderStepper(Model, Prompts.Count * beams, hidden, mask);
    }

    /// <summary>The Hugging Face logits processors the options ask for, in HF's order.</summary>
    public LogitsProcessorPipeline CreateProcessors() =>
        LogitsProcessorPipeline.Create(Options, Model.Config.EosTokenId, Model.Config.DecoderStartTokenId);

    /// <summary>Runs the encoder over the batch's prompts, each repeated <paramref name="repeat"/> times (beams).</summary>
    private (OrtValue Hidden, OrtValue Mask) Encode(int repeat)
    {
        var ids = new int[Prompts.Count][];
        for (var i = 0; i < ids.Length; i++)
            ids[i] = Prompts[i].Ids;
        var encoded = EncoderRun.Run(Model, ids, repeat, out var ticks);
        EncodeTicks += ticks;
        RunTicks += ticks;
        return encoded;
    }

    public bool IsEos(int token)
    {
        foreach (var eos in Model.Config.EosTokenIds)
        {
            if (token == eos)
                return true;
        }
        return false;
    }

    /// <summary>Builds a prompt's result: decodes the text and cuts it at the first stop string.</summary>
    public void Complete(int index, ReadOnlySpan<int> outputIds, FinishReason reason, long firstTokenAt, long decodeStart, long finishedAt)
    {
        var text = Model.Tokenizer.Decode(outputIds, skipSpecialTokens: true);
        if (Options.StopStrings.Count > 0 && new StopStringMatcher(Options.StopStrings).TryFind(text, out var cut))
        {
            text = text[..cut];
            if (reason != FinishReason.Cancelled)
                reason = FinishReason.Stop;
        }
        var prompt = Prompts[index];
        Results[Offset + index] = new GenerationResult(text, outputIds.ToArray(), reason, prompt.Ids.Length, outputIds.Length,
            Model.ContextWindow, prompt.TokensTruncated,
            new GenerationTimings(prompt.Tokenize, Ticks(EncodeTicks),
                firstTokenAt == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(CallStart, firstTokenAt),
                Stopwatch.GetElapsedTime(CallStart, finishedAt),
                decodeStart == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(decodeStart, finishedAt),
                Ticks(RunTicks)));
    }

    private static TimeSpan Ticks(long stopwatchTicks) => TimeSpan.FromSeconds(stopwatchTicks / (double)Stopwatch.Frequency);
}
