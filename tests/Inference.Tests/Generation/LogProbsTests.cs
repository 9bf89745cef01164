using Serverless.Inference.Generation;
using Serverless.Inference.Tests.Model;

namespace Serverless.Inference.Tests.Generation;

/// <summary>A row that asks for log-probabilities (<see cref="TokenObserver.TopLogProbs"/>) gets, per token, the
/// log-softmax of the processed scores it was chosen from — computed here independently from the scores the engine
/// shows a score observer — on its streamed tokens and in its result; a row that does not ask gets none.</summary>
[Collection(TinyModelCollection.Name)]
public sealed class LogProbsTests(TinyModels tiny)
{
    private const string Prompt = "Where is Ganymede located in the solar system?";

    [Fact]
    public void Each_tokens_log_probability_is_the_log_softmax_of_the_processed_scores_it_was_chosen_from()
    {
        var model = tiny.Get("merged");
        // Processors on (a penalty, and min_new_tokens banning end-of-sequence): the scores are the processed ones.
        var options = new GenerationOptions { MaxNewTokens = 10, MinNewTokens = 10, RepetitionPenalty = 1.3, FrequencyPenalty = 0.4 };
        var recorder = new ScoreRecorder();
        var reference = Generator.Generate(model, PromptSource.FromText([Prompt]), options, null, default, recorder)[0];

        var observer = new TokenObserver(model, options) { TopLogProbs = 4 };
        var result = model.RunRowSet([BatchPrompt.FromText(Prompt, options, observer)]).Single().Result!;
        observer.Complete(result);

        Assert.Equal(reference.OutputIds, result.OutputIds);
        var logProbs = result.LogProbs!;
        Assert.Equal(result.OutputIds.Count, logProbs.Count);
        for (var step = 0; step < logProbs.Count; step++)
        {
            var scores = recorder.Steps[step];
            var normalizer = Math.Log(scores.Where(float.IsFinite).Sum(s => Math.Exp(s)));
            var expectedTop = scores.Select((s, id) => (Id: id, Score: s)).OrderByDescending(t => t.Score).ThenBy(t => t.Id).Take(4).ToArray();

            Assert.Equal(result.OutputIds[step], logProbs[step].Chosen.Id);
            Assert.Equal(scores[result.OutputIds[step]] - normalizer, logProbs[step].Chosen.LogProb, 4);
            Assert.Equal(expectedTop.Select(t => t.Id), logProbs[step].Top.Select(t => t.Id));
            for (var k = 0; k < 4; k++)
                Assert.Equal(expectedTop[k].Score - normalizer, logProbs[step].Top[k].LogProb, 4);
            Assert.Equal(logProbs[step].Top[0], logProbs[step].Chosen); // greedy: the most likely token
            Assert.Equal(float.NegativeInfinity, scores[model.Config.EosTokenId]); // min_new_tokens banned it: processed scores
        }

        var streamed = new List<StreamedToken>();
        while (observer.Tokens.TryRead(out var token))
            streamed.Add(token);
        Assert.Equal(logProbs, streamed.Select(t => t.LogProbs!));
    }

    [Fact]
    public void A_row_that_does_not_ask_computes_no_log_probabilities()
    {
        var model = tiny.Get("merged");
        var options = new GenerationOptions { MaxNewTokens = 6 };
        var observer = new TokenObserver(model, options);

        var result = model.RunRowSet([BatchPrompt.FromText(Prompt, options, observer)]).Single().Result!;
        observer.Complete(result);

        Assert.Null(result.LogProbs);
        while (observer.Tokens.TryRead(out var token))
            Assert.Null(token.LogProbs);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(21)]
    public void More_than_twenty_alternatives_or_fewer_than_none_are_refused(int top)
    {
        var model = tiny.Get("merged");

        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenObserver(model, new GenerationOptions()) { TopLogProbs = top });
    }

    private sealed class ScoreRecorder : IScoreObserver
    {
        public List<float[]> Steps { get; } = [];

        public void OnScores(int row, int step, ReadOnlySpan<float> scores) => Steps.Add(scores.ToArray());
    }
}
