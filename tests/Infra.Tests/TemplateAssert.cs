using System.Text.Json.Nodes;

namespace Serverless.Infra.Tests;

internal static class TemplateAssert
{
    public static string Text(JsonNode? node, string what)
    {
        Assert.True(node is JsonValue value && value.TryGetValue(out string? _), $"{what}: expected a string, got {node?.ToJsonString() ?? "null"}.");
        return node!.GetValue<string>();
    }

    /// <summary>A value the template fixes (no expression left after evaluation).</summary>
    public static T Literal<T>(JsonNode? node, string what)
    {
        Assert.True(ArmExpression.IsFixed(node), $"{what}: expected a value fixed by the template, got {node}.");
        Assert.True(node is JsonValue value && value.TryGetValue(out T? _), $"{what}: expected a {typeof(T).Name}, got {node?.ToJsonString() ?? "null"}.");
        return node!.GetValue<T>();
    }
}
