using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Serverless.Inference.Generation;

namespace Serverless.Cli.Commands;

/// <summary>
/// The generation parameters on a command line, made from the engine's table (<see cref="GenerationParameters"/>): a
/// named option per parameter (<c>--max-new-tokens</c>, <c>--do-sample</c>, …) and <c>--param name=value</c> for any
/// of them. What is given is applied over the model's defaults through the table, as a job's parameters are.
/// </summary>
internal sealed class GenerationParameterOptions
{
    private readonly List<(GenerationParameter Parameter, Option Option)> _named = [];

    public GenerationParameterOptions()
    {
        foreach (var parameter in GenerationParameters.All)
        {
            var name = "--" + parameter.Name.Replace('_', '-');
            // Typed where the type allows it, so a value that is not even a number is a parse error before the model loads.
            Option option = parameter.Type switch
            {
                GenerationParameterType.Integer when parameter.Maximum > long.MaxValue => new Option<ulong>(name) { Description = parameter.Description },
                GenerationParameterType.Integer => new Option<long>(name) { Description = parameter.Description },
                GenerationParameterType.Number => new Option<double>(name) { Description = parameter.Description },
                GenerationParameterType.Boolean => new Option<bool>(name) { Description = parameter.Description },
                // --stop was this option's name before the table named it; kept so scripts keep working.
                GenerationParameterType.StringList => new Option<string[]>(name, "--stop") { Description = parameter.Description + " Repeatable." },
                _ => new Option<string>(name) { Description = parameter.Description },
            };
            if (parameter.AllowedValues.Count > 0)
                ((Option<string>)option).AcceptOnlyFromAmong([.. parameter.AllowedValues]);
            _named.Add((parameter, option));
        }
        Param = ParamOption();
    }

    /// <summary>A new <c>--param name=value</c> option (repeatable), for commands that pass the parameters on as given.</summary>
    public static Option<string[]> ParamOption() => new("--param")
    {
        Description = "A generation parameter as name=value (Hugging Face generate names: " +
            string.Join(", ", GenerationParameters.All.Select(p => p.Name)) + "). Repeatable.",
        AllowMultipleArgumentsPerToken = false,
    };

    /// <summary><c>--param name=value</c> (repeatable).</summary>
    public Option<string[]> Param { get; }

    /// <summary>Every option, to add to a command.</summary>
    public IEnumerable<Option> All => _named.Select(n => n.Option).Append(Param);

    /// <summary>The parameters given on the command line (named options, then <c>--param</c>, the last one winning) as a JSON object.</summary>
    /// <exception cref="ArgumentException">A <c>--param</c> is not name=value.</exception>
    public JsonObject Read(ParseResult parse)
    {
        var given = new JsonObject();
        foreach (var (parameter, option) in _named)
        {
            if (parse.GetResult(option) is null)
                continue;
            given[parameter.Name] = option switch
            {
                Option<ulong> number => JsonValue.Create(parse.GetValue(number)),
                Option<long> number => JsonValue.Create(parse.GetValue(number)),
                Option<double> number => JsonValue.Create(parse.GetValue(number)),
                Option<bool> flag => JsonValue.Create(parse.GetValue(flag)),
                Option<string[]> list => new JsonArray([.. (parse.GetValue(list) ?? []).Select(s => JsonValue.Create(s))]),
                Option<string> text => JsonValue.Create(parse.GetValue(text)),
                _ => throw new InvalidOperationException($"Unexpected option type for {parameter.Name}."),
            };
        }
        foreach (var assignment in parse.GetValue(Param) ?? [])
        {
            (var name, var value) = ParseAssignment(assignment);
            given[name] = JsonNode.Parse(value.GetRawText());
        }
        return given;
    }

    /// <summary>The parameters given on the command line applied over <paramref name="defaults"/> (the model's).</summary>
    /// <exception cref="ArgumentException">A parameter is unknown or of the wrong type (ranges are the engine's to check).</exception>
    public GenerationOptions Apply(ParseResult parse, GenerationOptions defaults)
    {
        var errors = new List<string>();
        var options = GenerationParameters.Apply(defaults, JsonSerializer.SerializeToElement(Read(parse)),
            (name, error) => errors.Add($"{name}: {error}"));
        if (errors.Count > 0)
            throw new ArgumentException("Invalid generation parameter(s): " + string.Join("; ", errors));
        return options;
    }

    /// <summary>Reads one <c>--param name=value</c>.</summary>
    /// <exception cref="ArgumentException">It is not name=value.</exception>
    public static (string Name, JsonElement Value) ParseAssignment(string assignment)
    {
        try
        {
            return GenerationParameters.ParseAssignment(assignment);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"--param {e.Message}", e);
        }
    }
}
