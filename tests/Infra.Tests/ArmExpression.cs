using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Serverless.Infra.Tests;

/// <summary>
/// Just enough of the ARM template expression language to read what the compiled template will deploy:
/// parameters, variables, format, createObject/createArray, union, length, copyIndex, property and index access.
/// Anything it cannot decide offline (reference, resourceId, uniqueString...) comes back as expression text
/// ("[...]") with the parts it could decide substituted, so tests can still check what it refers to.
/// </summary>
internal static class ArmExpression
{
    public static bool IsExpression(string text) =>
        text.Length >= 2 && text[0] == '[' && text[^1] == ']' && !text.StartsWith("[[", StringComparison.Ordinal);

    public static bool IsExpression(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue(out string? text) && IsExpression(text);

    /// <summary>True when the value is known before deployment: no expression, no ${...} left from format().</summary>
    public static bool IsFixed(JsonNode? node) =>
        !IsExpression(node) && !(node is JsonValue value && value.TryGetValue(out string? text) && text.Contains("${", StringComparison.Ordinal));

    /// <summary>Evaluates one expression string (with its brackets) in <paramref name="scope"/>.</summary>
    public static JsonNode? Evaluate(string expression, ArmScope scope)
    {
        var parser = new Parser(expression[1..^1]);
        var tree = parser.ParseExpression();
        parser.ExpectEnd();
        return Eval(tree, scope);
    }

    private abstract record Node;
    private sealed record Literal(JsonNode? Value) : Node;
    private sealed record Call(string Name, IReadOnlyList<Node> Arguments) : Node;
    private sealed record Member(Node Target, string Name) : Node;
    private sealed record Index(Node Target, Node Key) : Node;

    private static JsonNode? Eval(Node node, ArmScope scope) => node switch
    {
        Literal literal => literal.Value?.DeepClone(),
        Member member => EvalMember(Eval(member.Target, scope), member.Name),
        Index index => EvalIndex(Eval(index.Target, scope), Eval(index.Key, scope)),
        Call call => EvalCall(call, scope),
        _ => throw new InvalidOperationException(node.ToString()),
    };

    private static JsonNode? EvalMember(JsonNode? target, string name) =>
        target is JsonObject obj && obj.TryGetPropertyValue(name, out var value)
            ? value?.DeepClone()
            : Opaque($"{Render(target)}.{name}");

    private static JsonNode? EvalIndex(JsonNode? target, JsonNode? key)
    {
        if (target is JsonArray array && key is JsonValue k && k.TryGetValue(out int i) && i >= 0 && i < array.Count)
        {
            return array[i]?.DeepClone();
        }
        if (target is JsonObject obj && key is JsonValue s && s.TryGetValue(out string? name) && !IsExpression(name)
            && obj.TryGetPropertyValue(name, out var value))
        {
            return value?.DeepClone();
        }
        return Opaque($"{Render(target)}[{Render(key)}]");
    }

    private static JsonNode? EvalCall(Call call, ArmScope scope)
    {
        var name = call.Name.ToLowerInvariant();
        var args = call.Arguments.Select(a => Eval(a, scope)).ToList();
        var allResolved = args.All(IsFixed);
        string? Str(int i) => args[i] is JsonValue v && v.TryGetValue(out string? s) ? s : null;

        switch (name)
        {
            case "parameters" when Str(0) is { } p && !IsExpression(p):
                return scope.Parameter(p);
            case "variables" when Str(0) is { } v && !IsExpression(v):
                return scope.Variable(v);
            case "copyindex" when args.Count == 0 && scope.CopyIndex is int index:
                return JsonValue.Create(index);
            case "createobject":
                var created = new JsonObject();
                for (var i = 0; i + 1 < args.Count; i += 2)
                {
                    if (Str(i) is not { } key || IsExpression(key))
                    {
                        return Opaque(RenderCall(call.Name, args));
                    }
                    created[key] = args[i + 1]?.DeepClone();
                }
                return created;
            case "createarray":
                return new JsonArray(args.Select(a => a?.DeepClone()).ToArray());
            case "union" when args.All(a => a is JsonObject):
                var merged = new JsonObject();
                foreach (var obj in args.Cast<JsonObject>())
                {
                    foreach (var (key, value) in obj)
                    {
                        merged[key] = value?.DeepClone();
                    }
                }
                return merged;
            case "length" when args.Count == 1 && args[0] is JsonArray array:
                return JsonValue.Create(array.Count);
            case "format" when Str(0) is { } format && !IsExpression(format):
                // Like Bicep's string interpolation: what cannot be decided offline stays as ${expression}.
                var values = args.Skip(1).Select(a => (object?)(a switch
                {
                    JsonValue jv when jv.TryGetValue(out string? s) => IsExpression(s) ? "${" + s[1..^1] + "}" : s,
                    JsonValue jv => jv.ToJsonString(),
                    _ => a?.ToJsonString(),
                })).ToArray();
                return JsonValue.Create(string.Format(CultureInfo.InvariantCulture, format, values));
            case "empty" when allResolved && args.Count == 1:
                return JsonValue.Create(args[0] switch
                {
                    null => true,
                    JsonArray a => a.Count == 0,
                    JsonObject o => o.Count == 0,
                    JsonValue v when v.TryGetValue(out string? s) => s.Length == 0,
                    _ => false,
                });
            case "not" when args.Count == 1 && args[0] is JsonValue b && b.TryGetValue(out bool flag):
                return JsonValue.Create(!flag);
            default:
                return Opaque(RenderCall(call.Name, args));
        }
    }

    private static JsonValue Opaque(string text) => JsonValue.Create($"[{text}]");

    private static string RenderCall(string name, IEnumerable<JsonNode?> args) =>
        $"{name}({string.Join(", ", args.Select(Render))})";

    private static string Render(JsonNode? node) => node switch
    {
        null => "null()",
        // Rendered for reading, never parsed again: quotes are left as they are.
        JsonValue v when v.TryGetValue(out string? s) => IsExpression(s) ? s[1..^1] : $"'{s}'",
        JsonValue v when v.TryGetValue(out bool b) => b ? "true()" : "false()",
        JsonValue v => v.ToJsonString(),
        _ => $"json('{node.ToJsonString().Replace("'", "''", StringComparison.Ordinal)}')",
    };

    private sealed class Parser(string text)
    {
        private int _position;

        public Node ParseExpression()
        {
            var node = ParsePrimary();
            while (true)
            {
                SkipSpace();
                if (Peek('.'))
                {
                    _position++;
                    node = new Member(node, ReadIdentifier());
                }
                else if (Peek('['))
                {
                    _position++;
                    var key = ParseExpression();
                    Expect(']');
                    node = new Index(node, key);
                }
                else
                {
                    return node;
                }
            }
        }

        public void ExpectEnd()
        {
            SkipSpace();
            if (_position != text.Length)
            {
                throw new FormatException($"Unexpected '{text[_position..]}' in ARM expression '{text}'.");
            }
        }

        private Node ParsePrimary()
        {
            SkipSpace();
            if (Peek('\''))
            {
                return new Literal(JsonValue.Create(ReadString()));
            }
            if (_position < text.Length && (char.IsDigit(text[_position]) || text[_position] == '-'))
            {
                var start = _position++;
                while (_position < text.Length && char.IsDigit(text[_position]))
                {
                    _position++;
                }
                return new Literal(JsonValue.Create(long.Parse(text[start.._position], CultureInfo.InvariantCulture) is var n
                    && n is >= int.MinValue and <= int.MaxValue ? (int)n : n));
            }
            var name = ReadIdentifier();
            Expect('(');
            var args = new List<Node>();
            SkipSpace();
            if (!Peek(')'))
            {
                do
                {
                    args.Add(ParseExpression());
                    SkipSpace();
                }
                while (TryConsume(','));
            }
            Expect(')');
            return new Call(name, args);
        }

        private string ReadString()
        {
            Expect('\'');
            var builder = new StringBuilder();
            while (true)
            {
                if (_position >= text.Length)
                {
                    throw new FormatException($"Unterminated string in ARM expression '{text}'.");
                }
                var c = text[_position++];
                if (c == '\'')
                {
                    if (Peek('\''))
                    {
                        builder.Append('\'');
                        _position++;
                        continue;
                    }
                    return builder.ToString();
                }
                builder.Append(c);
            }
        }

        private string ReadIdentifier()
        {
            SkipSpace();
            var start = _position;
            while (_position < text.Length && (char.IsLetterOrDigit(text[_position]) || text[_position] is '_' or '$'))
            {
                _position++;
            }
            if (start == _position)
            {
                throw new FormatException($"Expected a name at {start} in ARM expression '{text}'.");
            }
            return text[start.._position];
        }

        private bool Peek(char c) => _position < text.Length && text[_position] == c;

        private bool TryConsume(char c)
        {
            SkipSpace();
            if (!Peek(c))
            {
                return false;
            }
            _position++;
            return true;
        }

        private void Expect(char c)
        {
            if (!TryConsume(c))
            {
                throw new FormatException($"Expected '{c}' at {_position} in ARM expression '{text}'.");
            }
        }

        private void SkipSpace()
        {
            while (_position < text.Length && char.IsWhiteSpace(text[_position]))
            {
                _position++;
            }
        }
    }
}
