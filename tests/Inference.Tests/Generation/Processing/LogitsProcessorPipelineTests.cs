using Serverless.Inference.Generation;
using Serverless.Inference.Generation.Processing;

namespace Serverless.Inference.Tests.Generation.Processing;

public class LogitsProcessorPipelineTests
{
    private const float NegInf = float.NegativeInfinity;

    private static float[] Run(GenerationOptions options, float[] logits, int[] generated, int eos = 1)
    {
        var pipeline = LogitsProcessorPipeline.Create(options, eos);
        var row = (float[])logits.Clone();
        pipeline.Process(row, generated);
        return row;
    }

    [Fact]
    public void Default_options_leave_scores_unchanged()
    {
        float[] logits = [2f, -1f, 4f, 0.5f, 3f];
        Assert.Equal(logits, Run(new GenerationOptions(), logits, [2, 3, 2]));
    }

    [Fact]
    public void Repetition_penalty_divides_positive_multiplies_negative_once_per_token_including_decoder_start()
    {
        // History = [0 (decoder start), 2, 3, 2, 1]; token 4 never occurred.
        float[] logits = [2f, -1f, 4f, 0.5f, 3f];
        var result = Run(new GenerationOptions { RepetitionPenalty = 2.0 }, logits, [2, 3, 2, 1], eos: 4);
        Assert.Equal([1f, -2f, 2f, 0.25f, 3f], result);
    }

    [Fact]
    public void Repetition_penalty_below_one_encourages_repeats()
    {
        float[] logits = [0f, -2f, 4f, 1f];
        var result = Run(new GenerationOptions { RepetitionPenalty = 0.5 }, logits, [1, 2], eos: 3);
        // Token 0 (decoder start) has score 0: 0 / 0.5 = 0.
        Assert.Equal([0f, -1f, 8f, 1f], result);
    }

    [Fact]
    public void Repetition_penalty_is_computed_in_float32_like_hf()
    {
        float[] logits = [1f, 0.7f];
        var result = Run(new GenerationOptions { RepetitionPenalty = 1.3 }, logits, [1], eos: 0);
        Assert.Equal(0.7f / 1.3f, result[1]);
        Assert.Equal(1f / 1.3f, result[0]);
    }

    [Fact]
    public void Repetition_penalty_ignores_ids_beyond_the_row()
    {
        var result = Run(new GenerationOptions { RepetitionPenalty = 2.0 }, [4f, 4f], [7, 1], eos: 0);
        Assert.Equal([2f, 2f], result);
    }

    [Fact]
    public void Repetition_penalty_stays_correct_across_many_calls()
    {
        // The per-call stamp must not leak marks from one call into the next.
        var pipeline = LogitsProcessorPipeline.Create(new GenerationOptions { RepetitionPenalty = 2.0 }, 9);
        for (var call = 0; call < 5; call++)
        {
            float[] row = [8f, 8f, 8f, 8f];
            int[] generated = call % 2 == 0 ? [1] : [2];
            pipeline.Process(row, generated);
            Assert.Equal(call % 2 == 0 ? [4f, 4f, 8f, 8f] : [4f, 8f, 4f, 8f], row);
        }
    }

    public static TheoryData<int, int[], int[]> NgramCases => new()
    {
        // n, generated (history is [0] + generated), banned tokens
        { 2, [5, 6, 5], [6] },                    // bigram (5,6) seen, last token 5
        { 2, [1, 2, 1, 3, 1], [2, 3] },            // (1,2) and (1,3) seen
        { 2, [], [] },                             // history [0]: no bigram yet
        { 2, [7], [] },                            // (0,7) seen, last token 7 starts none
        { 3, [1, 2, 3, 1, 2], [3] },               // trigram (1,2,3)
        { 3, [1, 2, 3, 1, 3], [] },                // prefix (1,3) never seen
        { 3, [1], [] },                            // history [0,1]: no trigram yet
        { 4, [], [] },                             // shorter than n - 1
        { 1, [4, 6], [0, 4, 6] },                  // unigrams: the decoder start token too, as in HF
        { 2, [3, 0], [3] },                        // prefix 0 matches the decoder start: bigram (0,3)
        { 2, [5, 5], [5] },                        // (5,5) seen
    };

    [Theory]
    [MemberData(nameof(NgramCases))]
    public void No_repeat_ngram_bans_exactly_the_tokens_completing_a_seen_ngram(int n, int[] generated, int[] banned)
    {
        var logits = Enumerable.Range(0, 10).Select(i => (float)i + 0.5f).ToArray();
        var result = Run(new GenerationOptions { NoRepeatNgramSize = n }, logits, generated, eos: 9);
        var actual = Enumerable.Range(0, 10).Where(i => float.IsNegativeInfinity(result[i])).ToArray();
        Assert.Equal(banned, actual);
        foreach (var i in Enumerable.Range(0, 10).Except(banned))
            Assert.Equal(logits[i], result[i]);
    }

    [Theory]
    [InlineData(0, true)]
    [InlineData(1, true)]
    [InlineData(2, false)]
    [InlineData(3, false)]
    public void Min_new_tokens_bans_eos_until_enough_tokens_were_generated(int generatedCount, bool eosBanned)
    {
        float[] logits = [0.1f, 5f, 0.3f];
        var generated = Enumerable.Repeat(2, generatedCount).ToArray();
        var result = Run(new GenerationOptions { MinNewTokens = 2 }, logits, generated, eos: 1);
        Assert.Equal(eosBanned ? NegInf : 5f, result[1]);
        Assert.Equal(0.1f, result[0]);
        Assert.Equal(0.3f, result[2]);
    }

    [Fact]
    public void Processors_combine()
    {
        // repetition_penalty 2, no_repeat_ngram_size 2, min_new_tokens 3, eos 1; history [0, 2, 3, 2].
        var options = new GenerationOptions { RepetitionPenalty = 2.0, NoRepeatNgramSize = 2, MinNewTokens = 4 };
        var result = Run(options, [2f, 6f, -4f, 8f, 1f], [2, 3, 2], eos: 1);
        Assert.Equal([1f, NegInf, -8f, NegInf, 1f], result);
    }

    [Fact]
    public void Create_rejects_unvalidated_options()
    {
        Assert.Throws<ArgumentException>(() => LogitsProcessorPipeline.Create(new GenerationOptions { RepetitionPenalty = 0 }, 1));
        Assert.Throws<ArgumentException>(() => LogitsProcessorPipeline.Create(new GenerationOptions { NoRepeatNgramSize = -1 }, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => LogitsProcessorPipeline.Create(new GenerationOptions(), -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => LogitsProcessorPipeline.Create(new GenerationOptions(), 1, -1));
    }

    [Fact]
    public void Process_does_not_allocate_after_the_first_call()
    {
        var options = new GenerationOptions { RepetitionPenalty = 1.2, NoRepeatNgramSize = 3, MinNewTokens = 5 };
        var pipeline = LogitsProcessorPipeline.Create(options, 1);
        var row = new float[32128];
        var generated = Enumerable.Range(0, 200).Select(i => (i * 37) % 500).ToArray();
        pipeline.Process(row, generated);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 50; i++)
            pipeline.Process(row, generated.AsSpan(0, 100 + i));
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }
}
