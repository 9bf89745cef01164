using Google.Protobuf.Collections;
using Serverless.EndToEnd.Tests.Otlp.Proto;

namespace Serverless.EndToEnd.Tests.Otlp;

internal static class OtlpValues
{
    public static IReadOnlyDictionary<string, string> ToDictionary(RepeatedField<KeyValue> attributes) =>
        attributes.GroupBy(a => a.Key).ToDictionary(g => g.Key, g => Text(g.Last().Value));

    /// <summary>An attribute value as text: numbers in invariant form, arrays as their items joined by '|'.</summary>
    public static string Text(AnyValue? value) => value?.ValueCase switch
    {
        AnyValue.ValueOneofCase.StringValue => value.StringValue,
        AnyValue.ValueOneofCase.BoolValue => value.BoolValue ? "true" : "false",
        AnyValue.ValueOneofCase.IntValue => value.IntValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
        AnyValue.ValueOneofCase.DoubleValue => value.DoubleValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
        AnyValue.ValueOneofCase.ArrayValue => string.Join('|', value.ArrayValue.Values.Select(Text)),
        _ => "",
    };
}
