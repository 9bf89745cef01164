namespace Serverless.Inference.Generation.Processing;

/// <summary>
/// Finds stop strings in the text decoded so far (ordinal, case-sensitive) and tells a streaming caller how much of
/// the tail to hold back because it could still become a stop string.
/// </summary>
internal sealed class StopStringMatcher
{
    private readonly string[] _stops;

    /// <param name="stops">The stop strings; each must be non-empty. An empty list never matches.</param>
    public StopStringMatcher(IReadOnlyList<string> stops)
    {
        ArgumentNullException.ThrowIfNull(stops);
        _stops = new string[stops.Count];
        for (var i = 0; i < _stops.Length; i++)
        {
            if (string.IsNullOrEmpty(stops[i]))
                throw new ArgumentException($"Stop string {i} is empty; every stop string needs at least one character.", nameof(stops));
            _stops[i] = stops[i];
        }
    }

    /// <summary>Finds the earliest occurrence of any stop string.</summary>
    /// <param name="decodedText">All text generated so far.</param>
    /// <param name="cutIndex">
    /// Where the occurrence starts: the completion is <c>decodedText[..cutIndex]</c>, without the stop string (HF
    /// keeps it; OpenAI-style APIs drop it). <c>decodedText.Length</c> when nothing was found.
    /// </param>
    /// <returns>Whether a stop string occurs.</returns>
    public bool TryFind(string decodedText, out int cutIndex)
    {
        ArgumentNullException.ThrowIfNull(decodedText);
        cutIndex = decodedText.Length;
        var found = false;
        foreach (var stop in _stops)
        {
            // Only an occurrence starting before the best so far can improve it.
            var searchLength = Math.Min(decodedText.Length, cutIndex + stop.Length - 1);
            var at = decodedText.AsSpan(0, searchLength).IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (!found || at < cutIndex))
            {
                cutIndex = at;
                found = true;
            }
        }
        return found;
    }

    /// <summary>
    /// How many trailing characters of <paramref name="decodedText"/> are a proper prefix of some stop string and so
    /// must not be streamed yet: the length of the longest such suffix (0 if none). Call <see cref="TryFind"/> first;
    /// complete occurrences are its business.
    /// </summary>
    public int HoldBack(string decodedText)
    {
        ArgumentNullException.ThrowIfNull(decodedText);
        ReadOnlySpan<char> text = decodedText;
        var hold = 0;
        foreach (var stop in _stops)
        {
            for (var k = Math.Min(stop.Length - 1, text.Length); k > hold; k--)
            {
                if (text.EndsWith(stop.AsSpan(0, k), StringComparison.Ordinal))
                {
                    hold = k;
                    break;
                }
            }
        }
        return hold;
    }
}
