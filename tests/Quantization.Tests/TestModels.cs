using Google.Protobuf;
using Onnx;

namespace Serverless.Quantization.Tests;

/// <summary>The committed tiny model, temp folders, and small hand-built ONNX graphs.</summary>
internal static class TestModels
{
    public static string Demo => Path.Combine(AppContext.BaseDirectory, "Models", "demo");
    public static string Goldens => Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny", "goldens.json");

    public static string TempFolder()
    {
        var path = Path.Combine(Path.GetTempPath(), "quantization-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Copies models/demo, leaving out the named files.</summary>
    public static string CopyDemo(params string[] exclude)
    {
        var target = TempFolder();
        foreach (var file in Directory.GetFiles(Demo))
        {
            if (!exclude.Contains(Path.GetFileName(file)))
                File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        }
        return target;
    }

    /// <summary>Deterministic pseudo-random values in [-1, 1).</summary>
    public static float[] Random(int count, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1))];
    }

    /// <summary>A model computing <c>Y = X · W</c> with <c>X [M, K]</c> an input and <c>W [K, N]</c> an initializer.</summary>
    public static ModelProto MatMul(float[] weight, int k, int n, string op = "MatMul", int weightType = TensorData.Float)
    {
        var graph = new GraphProto { Name = "g" };
        graph.Input.Add(Value("X", "M", k));
        graph.Output.Add(Value("Y", "M", n));
        var w = new TensorProto { Name = "W", DataType = weightType };
        w.Dims.AddRange([k, n]);
        w.RawData = weightType == TensorData.Float
            ? ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(weight.AsSpan()))
            : ByteString.CopyFrom(new byte[k * n * 2]);
        graph.Initializer.Add(w);
        var node = new NodeProto { Name = "the_matmul", OpType = op };
        node.Input.AddRange(["X", "W"]);
        node.Output.Add("Y");
        graph.Node.Add(node);
        var model = new ModelProto { IrVersion = 8, Graph = graph, ProducerName = "tests" };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 14 });
        return model;
    }

    public static ValueInfoProto Value(string name, string rows, int columns)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = rows });
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = columns });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = TensorData.Float, Shape = shape } },
        };
    }
}
