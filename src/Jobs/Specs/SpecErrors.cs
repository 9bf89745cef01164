namespace Serverless.Jobs.Specs;

/// <summary>Every problem of a job spec, keyed by the field's path (<c>prompts[3]</c>, <c>parameters.top_p</c>).</summary>
internal sealed class SpecErrors
{
    private readonly SortedDictionary<string, List<string>> _errors = new(StringComparer.Ordinal);

    public void Add(string field, string message)
    {
        if (!_errors.TryGetValue(field, out var list)) _errors[field] = list = [];
        list.Add(message);
    }

    public bool Any => _errors.Count > 0;
    public int Count => _errors.Sum(kv => kv.Value.Count);
    public IReadOnlyDictionary<string, string[]> ToDictionary() => _errors.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());
    /// <summary>One line for a failed job's <c>error.message</c>.</summary>
    public override string ToString() => string.Join("; ", _errors.SelectMany(kv => kv.Value.Select(m => $"{kv.Key}: {m}")));
}
