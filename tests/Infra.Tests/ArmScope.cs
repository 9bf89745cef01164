using System.Text.Json.Nodes;

namespace Serverless.Infra.Tests;

/// <summary>
/// One template in the compiled deployment (the root or a module's nested template) with the parameter values
/// its parent passes, so that expressions can be followed across module boundaries.
/// </summary>
internal sealed class ArmScope
{
    private readonly JsonObject _template;
    private readonly JsonObject? _parameterValues;
    private readonly ArmScope? _parent;
    private readonly HashSet<string> _evaluating = [];

    private ArmScope(JsonObject template, JsonObject? parameterValues, ArmScope? parent, string path, int? copyIndex)
    {
        _template = template;
        _parameterValues = parameterValues;
        _parent = parent;
        Path = path;
        CopyIndex = copyIndex;
    }

    public static ArmScope Root(JsonObject template) => new(template, null, null, "main", null);

    /// <summary>Module path, e.g. "main/api/functionapp".</summary>
    public string Path { get; }

    public int? CopyIndex { get; }

    public JsonObject Template => _template;

    public JsonNode? Parameter(string name)
    {
        if (_parameterValues?[name] is JsonObject passed && passed.TryGetPropertyValue("value", out var value))
        {
            return _parent!.Evaluate(value);
        }
        if (_template["parameters"]?[name] is JsonObject declared && declared.TryGetPropertyValue("defaultValue", out var fallback))
        {
            return Evaluate(fallback);
        }
        return JsonValue.Create($"[parameters('{name}')]");
    }

    public JsonNode? Variable(string name)
    {
        if (_template["variables"] is not JsonObject variables || !variables.TryGetPropertyValue(name, out var value))
        {
            throw new KeyNotFoundException($"Variable '{name}' is not declared in {Path}.");
        }
        if (!_evaluating.Add(name))
        {
            throw new InvalidOperationException($"Variable '{name}' refers to itself in {Path}.");
        }
        try
        {
            return Evaluate(value);
        }
        finally
        {
            _evaluating.Remove(name);
        }
    }

    /// <summary>Evaluates a template value: expressions are evaluated, objects and arrays element by element.</summary>
    public JsonNode? Evaluate(JsonNode? node) => node switch
    {
        null => null,
        JsonValue value when value.TryGetValue(out string? text) && ArmExpression.IsExpression(text) => ArmExpression.Evaluate(text, this),
        JsonObject obj => new JsonObject(obj.Select(p => KeyValuePair.Create(p.Key, Evaluate(p.Value)))),
        JsonArray array => new JsonArray(array.Select(Evaluate).ToArray()),
        _ => node.DeepClone(),
    };

    /// <summary>This template's resources, copy loops expanded, then those of every nested module, depth first.</summary>
    public IEnumerable<ArmResource> AllResources()
    {
        foreach (var resource in OwnResources())
        {
            yield return resource;
            if (resource.Type == "Microsoft.Resources/deployments"
                && resource.Raw["properties"]?["template"] is JsonObject nested)
            {
                var child = new ArmScope(nested, resource.Raw["properties"]?["parameters"] as JsonObject, resource.Scope,
                    $"{Path}/{resource.Name}", null);
                foreach (var inner in child.AllResources())
                {
                    yield return inner;
                }
            }
        }
    }

    private IEnumerable<ArmResource> OwnResources()
    {
        // languageVersion 2.0 templates keep resources in an object keyed by symbolic name.
        var declared = _template["resources"] switch
        {
            JsonArray array => array.OfType<JsonObject>(),
            JsonObject obj => obj.Select(p => p.Value).OfType<JsonObject>(),
            _ => [],
        };
        foreach (var raw in declared)
        {
            if (raw["existing"] is JsonValue existing && existing.GetValue<bool>())
            {
                continue;
            }
            if (raw["copy"] is JsonObject copy)
            {
                var count = Evaluate(copy["count"]);
                if (count is not JsonValue c || !c.TryGetValue(out int n))
                {
                    throw new InvalidOperationException($"Cannot evaluate the copy count of a resource in {Path}: {count}.");
                }
                for (var i = 0; i < n; i++)
                {
                    yield return new ArmResource(new ArmScope(_template, _parameterValues, _parent, Path, i), raw);
                }
            }
            else
            {
                yield return new ArmResource(this, raw);
            }
        }
    }
}

/// <summary>A resource the template deploys, evaluated on demand in its scope.</summary>
internal sealed record ArmResource(ArmScope Scope, JsonObject Raw)
{
    public string Type => (string)Raw["type"]!;

    public string Name => Scope.Evaluate(Raw["name"])!.GetValue<string>();

    /// <summary>The last segment of the name (child resources are named parent/child).</summary>
    public string ShortName => Name.Split('/')[^1];

    public JsonNode? Evaluated(string property) => Scope.Evaluate(Raw[property]);

    public JsonNode? Properties => Evaluated("properties");

    public bool IsConditional => Raw.ContainsKey("condition");
}
