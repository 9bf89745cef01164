namespace Serverless.Inference.Generation.Processing;

/// <summary>
/// OpenAI's additive penalties over the tokens generated so far (as vLLM applies them): every token j that was generated
/// c[j] times gets <c>score - c[j] × frequency_penalty</c>, then <c>- presence_penalty</c> once if c[j] &gt; 0. Positive
/// values make repeats less likely, negative ones more. Unlike Hugging Face's multiplicative repetition_penalty, the
/// decoder start token and the prompt do not count: only generated tokens.
/// </summary>
/// <remarks>Counts are taken per call from the generated tokens into a reused array, then cleared, so a call allocates
/// nothing after the first with a given row length. Scores stay float32, as the model's logits are.</remarks>
internal sealed class OccurrencePenalties(float frequencyPenalty, float presencePenalty)
{
    private int[] _counts = [];

    public void Apply(Span<float> logits, ReadOnlySpan<int> generated)
    {
        if (_counts.Length < logits.Length)
            _counts = new int[logits.Length];
        foreach (var token in generated)
        {
            if ((uint)token < (uint)logits.Length)
                _counts[token]++;
        }
        foreach (var token in generated)
        {
            if ((uint)token >= (uint)logits.Length || _counts[token] == 0)
                continue;
            var score = logits[token] - frequencyPenalty * _counts[token];
            logits[token] = score - presencePenalty;
            _counts[token] = 0; // once per distinct token; also leaves the array clear for the next call
        }
    }
}
