using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace Serverless.Quantization;

/// <summary>Reads and makes ONNX tensors (little-endian raw data, as ONNX stores it).</summary>
internal static class TensorData
{
    public const int Float = (int)TensorProto.Types.DataType.Float;
    public const int UInt8 = (int)TensorProto.Types.DataType.Uint8;
    public const int Int8 = (int)TensorProto.Types.DataType.Int8;

    public static float[] ReadFloats(TensorProto tensor)
    {
        if (tensor.DataType != Float)
            throw new InvalidOperationException($"Tensor '{tensor.Name}' is {TypeName(tensor.DataType)}, not float.");
        var count = tensor.Dims.Aggregate(1L, (a, d) => a * d);
        float[] values;
        if (tensor.HasRawData)
        {
            if (tensor.RawData.Length != count * sizeof(float))
                throw new QuantizationException($"Tensor '{tensor.Name}' holds {tensor.RawData.Length} bytes; its shape [{string.Join(", ", tensor.Dims)}] needs {count * sizeof(float)}.");
            values = MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray();
        }
        else
        {
            if (tensor.FloatData.Count != count)
                throw new QuantizationException($"Tensor '{tensor.Name}' holds {tensor.FloatData.Count} floats; its shape [{string.Join(", ", tensor.Dims)}] needs {count}.");
            values = [.. tensor.FloatData];
        }
        return values;
    }

    public static TensorProto Make<T>(string name, int dataType, ReadOnlySpan<T> values, params long[] dims) where T : unmanaged
    {
        var tensor = new TensorProto { Name = name, DataType = dataType, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values)) };
        tensor.Dims.AddRange(dims);
        return tensor;
    }

    public static string TypeName(int dataType) =>
        Enum.IsDefined(typeof(TensorProto.Types.DataType), dataType)
            ? ((TensorProto.Types.DataType)dataType).ToString().ToLowerInvariant()
            : $"type {dataType}";
}
