#:project ../src/Inference/Inference.csproj
// dotnet run scripts/bench-session-open.cs -- MODEL_DIR [RUNS] [--quantized]: where ONNX Runtime's session creation goes, per
// graph of an Optimum export (encoder_model, decoder_model, decoder_with_past_model, or their *_quantized): the time to open it as exported at each graph
// optimization level, as ORT format (saved by ONNX Runtime at the basic level), and with its weights in external data
// (<graph>.onnx_data, as `serverless model upload` stores graphs), each the fastest of RUNS (default 3); then the whole
// model's load (T5Model.Load, three sessions side by side, the decoder mask added) of the folder as exported and of a copy
// with every graph's weights in external data. Prints figures (docs/cold-start.md); run it on an idle machine.
using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Serverless.Inference.Model;

var dir = Path.GetFullPath(args.Length > 0 ? args[0] : ".models/flan-t5-small-random");
var runs = args.Length > 1 ? int.Parse(args[1]) : 3;
var quantized = args.Contains("--quantized");
var q = quantized ? "_quantized" : "";
var work = Directory.CreateTempSubdirectory("bench-session-open-").FullName;
string[] graphs = [$"encoder_model{q}", $"decoder_model{q}", $"decoder_with_past_model{q}"];

double Fastest(Func<SessionOptions> options, string path)
{
    var best = double.MaxValue;
    for (var i = 0; i < runs; i++)
    {
        using var o = options();
        var sw = Stopwatch.StartNew();
        using (new InferenceSession(path, o)) { }
        best = Math.Min(best, sw.Elapsed.TotalMilliseconds);
    }
    return best;
}
SessionOptions At(GraphOptimizationLevel level) => new() { GraphOptimizationLevel = level, InterOpNumThreads = 1 };
void Save(string from, string to, Action<SessionOptions> configure)
{
    using var o = At(GraphOptimizationLevel.ORT_DISABLE_ALL);
    o.OptimizedModelFilePath = to;
    configure(o);
    using (new InferenceSession(from, o)) { }
}

try
{
    Console.WriteLine($"{dir}: session creation, fastest of {runs}, ms");
    Console.WriteLine($"{"graph",-36} {"MB",7} {"none",7} {"basic",7} {"extended",9} {"all",7} {"ORT format",11} {"external data",14}");
    foreach (var graph in graphs)
    {
        var path = Path.Combine(dir, graph + ".onnx");
        var ort = Path.Combine(work, graph + ".ort");
        Save(path, ort, o => o.GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC);
        var external = Path.Combine(work, graph + ".onnx");
        Save(path, external, o =>
        {
            o.AddSessionConfigEntry("session.optimized_model_external_initializers_file_name", graph + ".onnx_data");
            o.AddSessionConfigEntry("session.optimized_model_external_initializers_min_size_in_bytes", "1024");
        });
        var levels = new[] { GraphOptimizationLevel.ORT_DISABLE_ALL, GraphOptimizationLevel.ORT_ENABLE_BASIC, GraphOptimizationLevel.ORT_ENABLE_EXTENDED, GraphOptimizationLevel.ORT_ENABLE_ALL }
            .Select(level => Fastest(() => At(level), path)).ToArray();
        var ortMs = Fastest(() => At(GraphOptimizationLevel.ORT_DISABLE_ALL), ort);
        var externalMs = Fastest(() => At(GraphOptimizationLevel.ORT_ENABLE_ALL), external);
        Console.WriteLine($"{graph,-36} {new FileInfo(path).Length / 1e6,7:0} {levels[0],7:0} {levels[1],7:0} {levels[2],9:0} {levels[3],7:0} {ortMs,11:0} {externalMs,14:0}");
    }

    // The whole model: the folder as exported, and the same graphs with their weights in external data.
    foreach (var file in Directory.GetFiles(dir).Where(f => !f.EndsWith(".onnx", StringComparison.Ordinal)))
        File.Copy(file, Path.Combine(work, Path.GetFileName(file)), overwrite: true);
    foreach (var (name, folder) in new[] { ("as exported", dir), ("external data", work) })
    {
        var best = double.MaxValue;
        for (var i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            using var model = T5Model.Load(folder, new ModelOptions { UseQuantized = quantized });
            best = Math.Min(best, sw.Elapsed.TotalMilliseconds);
            if (i == runs - 1)
                Console.WriteLine($"T5Model.Load, {name,-13}: {best,6:0} ms (joins: {model.JoinUnavailableReason ?? "yes"})");
        }
    }
}
finally
{
    Directory.Delete(work, recursive: true);
}
