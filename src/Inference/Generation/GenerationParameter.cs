using System.Text.Json;

namespace Serverless.Inference.Generation;

/// <summary>The JSON type of a generation parameter's value.</summary>
public enum GenerationParameterType
{
    /// <summary>A whole number.</summary>
    Integer,
    /// <summary>A finite number.</summary>
    Number,
    /// <summary>true or false.</summary>
    Boolean,
    /// <summary>One of <see cref="GenerationParameter.AllowedValues"/>.</summary>
    String,
    /// <summary>A string or an array of strings.</summary>
    StringList,
}

/// <summary>
/// One Hugging Face <c>generate</c> parameter as <see cref="GenerationParameters"/> lists it: its name, type, range and
/// meaning, and how it is read into and out of <see cref="GenerationOptions"/>.
/// </summary>
public sealed class GenerationParameter
{
    internal delegate GenerationOptions Reader(GenerationOptions options, JsonElement value, out string? error);

    private readonly Func<GenerationOptions, object?> _get;
    private readonly Reader _read;
    private readonly Action<GenerationOptions, int, Action<string>>? _check;

    internal GenerationParameter(string name, GenerationParameterType type, string description,
        Func<GenerationOptions, object?> get, Reader read, Action<GenerationOptions, int, Action<string>>? check = null)
    {
        Name = name;
        Type = type;
        Description = description;
        _get = get;
        _read = read;
        _check = check;
    }

    /// <summary>The Hugging Face name (snake_case), as in a job's <c>parameters</c> and in <c>generation_config.json</c>.</summary>
    public string Name { get; }

    /// <summary>The JSON type of its value.</summary>
    public GenerationParameterType Type { get; }

    /// <summary>What it does and which values it takes, in one sentence.</summary>
    public string Description { get; }

    /// <summary>The smallest allowed value of a numeric parameter; null when unbounded.</summary>
    public double? Minimum { get; internal init; }

    /// <summary>Whether <see cref="Minimum"/> itself is excluded (temperature, top_p).</summary>
    public bool MinimumExclusive { get; internal init; }

    /// <summary>The largest allowed value; null when unbounded or set by the host (max_new_tokens: Inference__MaxNewTokensCeiling).</summary>
    public double? Maximum { get; internal init; }

    /// <summary>The values a <see cref="GenerationParameterType.String"/> parameter takes; empty otherwise.</summary>
    public IReadOnlyList<string> AllowedValues { get; internal init; } = [];

    /// <summary>Whether a model's <c>generation_config.json</c> may set its default.</summary>
    public bool InGenerationConfig { get; internal init; } = true;

    /// <summary>The value when nothing sets it (the defaults of <see cref="GenerationOptions"/>, as JSON would hold it).</summary>
    public object? Default => ValueOf(new GenerationOptions());

    /// <summary>This parameter's value in <paramref name="options"/>, as JSON would hold it.</summary>
    public object? ValueOf(GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return _get(options);
    }

    /// <summary>Sets this parameter from a JSON value; on a value of the wrong type, returns <paramref name="options"/>
    /// unchanged and the problem (without the name) in <paramref name="error"/>.</summary>
    internal GenerationOptions Read(GenerationOptions options, JsonElement value, out string? error) => _read(options, value, out error);

    /// <summary>Reports each way this parameter is out of range in <paramref name="options"/> (without the name).</summary>
    internal void Check(GenerationOptions options, int maxNewTokensCeiling, Action<string> fail) => _check?.Invoke(options, maxNewTokensCeiling, fail);
}
