namespace Serverless.Jobs.Specs;

/// <summary>
/// "Did you mean" for an unknown field: the known name closest to a typo (<c>temprature</c> → <c>temperature</c>), or the
/// Hugging Face name of a field other APIs spell differently (<c>max_tokens</c> → <c>max_new_tokens</c>). Candidates
/// always come from the caller's table of known names, so a hint never names a field that does not exist.
/// </summary>
internal static class FieldHints
{
    /// <summary>Names other APIs (OpenAI, text-generation-inference) use for a parameter of the table.</summary>
    private static readonly Dictionary<string, string> OtherApisNames = new(StringComparer.OrdinalIgnoreCase)
    {
        ["max_tokens"] = "max_new_tokens",
        ["max_length"] = "max_new_tokens",
        ["max_completion_tokens"] = "max_new_tokens",
        ["min_tokens"] = "min_new_tokens",
        ["stop"] = "stop_strings",
        ["stop_sequences"] = "stop_strings",
        ["beams"] = "num_beams",
        ["random_seed"] = "seed",
        ["frequency_penalty"] = "repetition_penalty",
        ["presence_penalty"] = "repetition_penalty",
        ["sample"] = "do_sample",
        ["callback"] = "callback_url",
        ["webhook"] = "callback_url",
        ["input"] = "inputs",
        ["text"] = "inputs",
        ["streaming"] = "stream",
    };

    /// <summary>" Did you mean 'x'?" (with a leading space), or "" when no known name is close.</summary>
    public static string DidYouMean(string unknown, IEnumerable<string> known)
    {
        var names = known.ToList();
        if (OtherApisNames.TryGetValue(unknown, out var mapped) && names.Contains(mapped, StringComparer.Ordinal))
            return $" Did you mean '{mapped}'?";
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var name in names)
        {
            var distance = Distance(unknown.ToLowerInvariant(), name);
            if (distance < bestDistance) (best, bestDistance) = (name, distance);
        }
        // A third of the name's length, at least one edit: close enough to be a typo, far enough to stay quiet on other words.
        return best is not null && bestDistance <= Math.Max(1, best.Length / 3) ? $" Did you mean '{best}'?" : "";
    }

    /// <summary>Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours each cost one.</summary>
    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }
        return d[a.Length, b.Length];
    }
}
