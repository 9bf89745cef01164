using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Serverless.Inference.Model;
using Serverless.Inference.Telemetry;

namespace Serverless.Inference.Generation;

/// <summary>
/// Runs a call: prepares every prompt (tokenize, truncate, check the context window) before any batch runs, then hands
/// each batch to a <see cref="RowSet"/> (greedy search, sampling) or <see cref="BeamSearch"/>; <see cref="ModelGeneration"/> is its public face.
/// </summary>
internal static class Generator
{
    public static void ValidateOptions(T5Model model, GenerationOptions options)
    {
        var errors = GenerationParameters.Validate(options, model.Options.MaxNewTokensCeiling);
        if (errors.Count > 0)
            throw new InvalidGenerationOptionsException(errors);
    }

    public static IReadOnlyList<GenerationResult> Generate(T5Model model, PromptSource source, GenerationOptions options,
        ITokenObserver? observer, CancellationToken cancellationToken, IScoreObserver? scoreObserver = null)
    {
        var callStart = Stopwatch.GetTimestamp();
        var prepared = new PreparedPrompt[source.Count];
        for (var i = 0; i < prepared.Length; i++)
            prepared[i] = source.Prepare(model, i, options.Truncation);

        var results = new GenerationResult[prepared.Length];
        var beams = Math.Max(1, options.NumBeams);
        var perBatch = Math.Max(1, model.Options.MaxBatchRows / beams);
        for (var offset = 0; offset < prepared.Length; offset += perBatch)
        {
            var count = Math.Min(perBatch, prepared.Length - offset);
            if (beams > 1)
                RunBeams(model, new ArraySegment<PreparedPrompt>(prepared, offset, count), offset, options, observer, callStart, results, cancellationToken, scoreObserver);
            else
                RunRows(model, new ArraySegment<PreparedPrompt>(prepared, offset, count), offset, options, observer, callStart, results, cancellationToken, scoreObserver);
        }
        return results;
    }

    // Greedy search and sampling: a row set with no joins, stepped until every row is done.
    private static void RunRows(T5Model model, ArraySegment<PreparedPrompt> batch, int offset, GenerationOptions options, ITokenObserver? observer,
        long callStart, GenerationResult[] results, CancellationToken cancellationToken, IScoreObserver? scoreObserver)
    {
        var prompts = new BatchPrompt[batch.Count];
        for (var i = 0; i < prompts.Length; i++)
            prompts[i] = BatchPrompt.FromPrepared(offset + i, batch[i], options, callStart, observer, scoreObserver);
        // The call's token cancels the set, checked before each step: every row stops at the same step.
        using var set = new RowSet(model, cancellationToken);
        var outcomes = new List<RowOutcome>(set.Admit(prompts));
        while (set.ActiveRows > 0)
            outcomes.AddRange(set.Step());
        foreach (var outcome in outcomes)
            results[outcome.Prompt.Index] = outcome.Result ?? throw outcome.Error!;
    }

    private static void RunBeams(T5Model model, ArraySegment<PreparedPrompt> batch, int offset, GenerationOptions options, ITokenObserver? observer,
        long callStart, GenerationResult[] results, CancellationToken cancellationToken, IScoreObserver? scoreObserver)
    {
        var batchStart = DateTime.UtcNow;
        var context = new DecodeBatch(model, batch, offset, options, observer, callStart, results, cancellationToken)
        {
            ScoreObserver = scoreObserver,
        };
        BeamSearch.Run(context);
        InferenceTelemetry.RecordBatch(batchStart, results.AsSpan(offset, batch.Count), options.NumBeams);
    }

    public static async IAsyncEnumerable<string> Stream(T5Model model, PromptSource source, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // The text-only stream is the token stream's texts: one place holds back stop strings and partial characters.
        var channel = Channel.CreateUnbounded<StreamedToken>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var observer = new TokenStreamObserver(model.Tokenizer, options.StopStrings, channel.Writer);
        var worker = DecodeThread.Run(() =>
        {
            try
            {
                var result = Generate(model, source, options, observer, stop.Token)[0];
                observer.Finish(result);
                return result;
            }
            finally
            {
                channel.Writer.TryComplete();
            }
        }, stop.Token);

        try
        {
            await foreach (var token in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                // Pieces may be buffered ahead of the consumer: stop at once when cancelled, not after the backlog.
                cancellationToken.ThrowIfCancellationRequested();
                if (token.Text.Length > 0)
                    yield return token.Text;
            }
            var done = await worker.ConfigureAwait(false);
            if (done.FinishReason == FinishReason.Cancelled)
                throw new OperationCanceledException("The completion was cancelled.", cancellationToken);
        }
        finally
        {
            // The consumer may stop early: end the decode loop too and let it finish before we return.
            stop.Cancel();
            try
            {
                await worker.ConfigureAwait(false);
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                // Already reported above, or nobody is listening any more.
            }
        }
    }
}
