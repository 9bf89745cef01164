using System.Reflection;
using System.Text.Json;
using Azure.Storage.Queues.Models;
using Microsoft.Azure.Functions.Worker;

namespace Serverless.LocalHost;

/// <summary>
/// Calls a Functions class's queue function the way the Functions host and the isolated worker do, so a signature that
/// breaks on Azure breaks here too. The trigger parameter gets the message (<see cref="QueueMessage"/>, its text as
/// <see cref="string"/>, or its body as <see cref="BinaryData"/>); every other parameter but the
/// <see cref="CancellationToken"/> is bound by name, ignoring case, from the trigger's binding data: the message's
/// metadata (<c>Id</c>, <c>DequeueCount</c>, <c>PopReceipt</c>, …) and then, for a JSON object body, its top-level
/// properties, which win over the metadata, as they do under the real host.
/// </summary>
internal static class IsolatedWorkerBinding
{
    public static Task InvokeAsync(object function, QueueMessage message, CancellationToken cancellationToken)
    {
        var method = function.GetType().GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Single(m => m.GetCustomAttribute<FunctionAttribute>() is not null);
        var bindingData = BindingData(message);
        var arguments = method.GetParameters().Select(p => Bind(p, message, bindingData, cancellationToken)).ToArray();
        try
        {
            return (Task)method.Invoke(function, arguments)!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
    }

    /// <summary>The trigger's binding data as the Functions host builds it for a queue message.</summary>
    internal static IReadOnlyDictionary<string, object?> BindingData(QueueMessage message)
    {
        var text = message.Body?.ToString() ?? "";
        var data = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase)
        {
            ["QueueTrigger"] = text,
            ["DequeueCount"] = message.DequeueCount,
            ["ExpirationTime"] = message.ExpiresOn ?? DateTimeOffset.MaxValue,
            ["Id"] = message.MessageId,
            ["InsertionTime"] = message.InsertedOn ?? DateTimeOffset.UtcNow,
            ["NextVisibleTime"] = message.NextVisibleOn ?? DateTimeOffset.MaxValue,
            ["PopReceipt"] = message.PopReceipt,
        };
        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in document.RootElement.EnumerateObject())
                {
                    try
                    {
                        data[property.Name] = property.Value.Clone();
                    }
                    catch (InvalidOperationException)
                    {
                        // A name that is not valid text cannot be a parameter name either.
                    }
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON: the metadata only.
        }
        return data;
    }

    private static object? Bind(ParameterInfo parameter, QueueMessage message, IReadOnlyDictionary<string, object?> bindingData, CancellationToken cancellationToken)
    {
        if (parameter.ParameterType == typeof(CancellationToken)) return cancellationToken;
        if (parameter.GetCustomAttribute<QueueTriggerAttribute>() is not null)
        {
            return parameter.ParameterType == typeof(QueueMessage) ? message
                : parameter.ParameterType == typeof(string) ? message.Body?.ToString() ?? ""
                : parameter.ParameterType == typeof(BinaryData) ? message.Body
                : throw new NotSupportedException($"The local host cannot bind a queue trigger to {parameter.ParameterType.Name}.");
        }
        if (!bindingData.TryGetValue(parameter.Name!, out var value))
            throw new InvalidOperationException($"Cannot bind parameter '{parameter.Name}': the trigger has no binding data of that name.");
        try
        {
            return Convert(value, parameter.ParameterType);
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidCastException or OverflowException or InvalidOperationException)
        {
            // The worker fails the invocation the same way: the message is retried and ends in the poison queue.
            throw new InvalidOperationException($"Cannot bind parameter '{parameter.Name}' to type {parameter.ParameterType.Name} from the binding data value {Describe(value)}.", e);
        }
    }

    private static object? Convert(object? value, Type type) => value switch
    {
        null => null,
        _ when type.IsInstanceOfType(value) => value,
        JsonElement { ValueKind: JsonValueKind.String } e when type == typeof(string) => e.GetString(),
        JsonElement e when type == typeof(string) => e.GetRawText(),
        JsonElement e => JsonSerializer.Deserialize(e, type, new JsonSerializerOptions { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowReadingFromString }),
        _ => System.Convert.ChangeType(value, type, System.Globalization.CultureInfo.InvariantCulture),
    };

    private static string Describe(object? value) => value is JsonElement e ? e.GetRawText() : $"'{value}'";
}
