namespace Serverless.Inference.Generation.Processing;

/// <summary>
/// The logits processors of Hugging Face <c>generate</c> that do not depend on sampling, applied in place to one
/// row's next-token scores: repetition_penalty, then OpenAI's frequency_penalty and presence_penalty (vLLM's order,
/// <see cref="OccurrencePenalties"/>), no_repeat_ngram_size and min_new_tokens (in HF's order).
/// Temperature, top_k and top_p are applied by <see cref="TokenSampler"/>.
/// </summary>
/// <remarks>
/// HF runs these processors over the whole decoder <c>input_ids</c>, which for an encoder-decoder model starts
/// with the decoder start token (T5: 0, the pad token). This class does the same: the decoder start token is part
/// of the history for repetition_penalty and no_repeat_ngram_size, but does not count as a new token for
/// min_new_tokens. For beam search, HF applies these processors to log-softmaxed scores; pass those rows.
/// One instance per request: it reuses its own buffers and is not thread-safe. <see cref="Process"/> allocates
/// nothing after the first call with a given row length.
/// </remarks>
internal sealed class LogitsProcessorPipeline
{
    private readonly float _repetitionPenalty; // 1 = off
    private readonly int _noRepeatNgramSize;   // 0 = off
    private readonly int _minNewTokens;
    private readonly int _eosTokenId;
    private readonly int _decoderStartTokenId;
    private readonly OccurrencePenalties? _occurrencePenalties; // null = both 0

    // Per-token "seen in this call" marks for repetition_penalty; a new stamp per call avoids clearing the array.
    private int[] _seenStamp = [];
    private int _stamp;

    private LogitsProcessorPipeline(GenerationOptions options, int eosTokenId, int decoderStartTokenId)
    {
        // HF compares in float32; the penalty is a float32 scalar there too.
        _repetitionPenalty = (float)options.RepetitionPenalty;
        _noRepeatNgramSize = options.NoRepeatNgramSize;
        _minNewTokens = options.MinNewTokens;
        _eosTokenId = eosTokenId;
        _decoderStartTokenId = decoderStartTokenId;
        if (options.FrequencyPenalty != 0 || options.PresencePenalty != 0)
            _occurrencePenalties = new OccurrencePenalties((float)options.FrequencyPenalty, (float)options.PresencePenalty);
    }

    /// <summary>Builds the processors that <paramref name="options"/> turn on.</summary>
    /// <param name="options">Validated options (see <see cref="GenerationOptions.Validate"/>).</param>
    /// <param name="eosTokenId">The end-of-sequence token, banned while fewer than min_new_tokens were generated.</param>
    /// <param name="decoderStartTokenId">The token the decoder input starts with (T5: 0).</param>
    public static LogitsProcessorPipeline Create(GenerationOptions options, int eosTokenId, int decoderStartTokenId = 0)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(eosTokenId);
        ArgumentOutOfRangeException.ThrowIfNegative(decoderStartTokenId);
        if (!(options.RepetitionPenalty > 0) || !double.IsFinite(options.RepetitionPenalty))
            throw new ArgumentException($"repetition_penalty must be a finite number greater than 0 (got {options.RepetitionPenalty}); call GenerationOptions.Validate first.", nameof(options));
        if (options.NoRepeatNgramSize < 0)
            throw new ArgumentException($"no_repeat_ngram_size must be at least 0 (got {options.NoRepeatNgramSize}); call GenerationOptions.Validate first.", nameof(options));
        if (!double.IsFinite(options.FrequencyPenalty) || !double.IsFinite(options.PresencePenalty))
            throw new ArgumentException($"frequency_penalty and presence_penalty must be finite (got {options.FrequencyPenalty}, {options.PresencePenalty}); call GenerationOptions.Validate first.", nameof(options));
        return new LogitsProcessorPipeline(options, eosTokenId, decoderStartTokenId);
    }

    /// <summary>Applies the processors to one row in place.</summary>
    /// <param name="logits">
    /// The row's next-token scores, every row of the model's logits. Rows beyond the tokenizer's pieces (flan-T5's 100
    /// sentinels and 28 padding rows of 32128) stay choosable, as in Hugging Face's generate: masking them would change
    /// the choice whenever one of them is the best (on random weights, about one completion in four).
    /// </param>
    /// <param name="generated">Tokens generated so far for this row, without the decoder start token.</param>
    public void Process(Span<float> logits, ReadOnlySpan<int> generated)
    {
        if (_repetitionPenalty != 1f)
            ApplyRepetitionPenalty(logits, generated);

        _occurrencePenalties?.Apply(logits, generated);

        if (_noRepeatNgramSize > 0)
            BanRepeatedNgrams(logits, generated);

        // HF's MinNewTokensLengthLogitsProcessor: new tokens = decoder input length minus the start token.
        if (generated.Length < _minNewTokens && _eosTokenId < logits.Length)
            logits[_eosTokenId] = float.NegativeInfinity;
    }

    // HF RepetitionPenaltyLogitsProcessor: gather the score of every token in input_ids, multiply the negative ones
    // by the penalty and divide the others, scatter back. Each distinct token is penalised once, however often it
    // occurred.
    private void ApplyRepetitionPenalty(Span<float> logits, ReadOnlySpan<int> generated)
    {
        if (_seenStamp.Length < logits.Length)
        {
            _seenStamp = new int[logits.Length];
            _stamp = 0;
        }
        if (++_stamp == int.MaxValue)
        {
            Array.Clear(_seenStamp);
            _stamp = 1;
        }

        Penalise(logits, _decoderStartTokenId);
        foreach (var token in generated)
            Penalise(logits, token);

        void Penalise(Span<float> row, int token)
        {
            if ((uint)token >= (uint)row.Length || _seenStamp[token] == _stamp)
                return;
            _seenStamp[token] = _stamp;
            var score = row[token];
            row[token] = score < 0 ? score * _repetitionPenalty : score / _repetitionPenalty;
        }
    }

    // HF NoRepeatNGramLogitsProcessor over history = [decoder start] + generated: every n-gram in the history whose
    // first n-1 tokens equal the last n-1 tokens of the history bans its last token. Scanning the history directly
    // (O(length * n)) instead of building HF's dictionary keeps this allocation-free; lengths are at most a few
    // hundred.
    private void BanRepeatedNgrams(Span<float> logits, ReadOnlySpan<int> generated)
    {
        var n = _noRepeatNgramSize;
        var length = generated.Length + 1;
        if (length + 1 < n)
            return;

        var prefixStart = length - n + 1; // the last n-1 tokens of the history
        for (var i = 0; i + n <= length; i++)
        {
            var match = true;
            for (var j = 0; j < n - 1; j++)
            {
                if (At(generated, i + j) != At(generated, prefixStart + j))
                {
                    match = false;
                    break;
                }
            }
            if (match)
            {
                var banned = At(generated, i + n - 1);
                if ((uint)banned < (uint)logits.Length)
                    logits[banned] = float.NegativeInfinity;
            }
        }
    }

    private int At(ReadOnlySpan<int> generated, int historyIndex) =>
        historyIndex == 0 ? _decoderStartTokenId : generated[historyIndex - 1];
}
