// Usage: ortcheck REQUEST.json RESPONSE.json
// or:   ortcheck greedy MODEL_DIR GOLDENS.json (see Greedy.cs)
// REQUEST: {"runs": [{"model": path, "inputs": {name: {"dtype": "int64"|"float32"|"bool", "shape": [...], "data": [...]}}}]}
// RESPONSE: [{name: {"shape": [...], "data": [...]}}] per run, every output as float32.
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

if (args.Length == 3 && args[0] == "greedy")
    return Greedy.Run(args[1], args[2]);

JsonElement request = JsonDocument.Parse(File.ReadAllText(args[0])).RootElement;
var sessions = new Dictionary<string, InferenceSession>();
var results = new List<Dictionary<string, object>>();
foreach (JsonElement run in request.GetProperty("runs").EnumerateArray())
{
    string path = run.GetProperty("model").GetString()!;
    if (!sessions.TryGetValue(path, out InferenceSession? session))
        sessions[path] = session = new InferenceSession(path);
    var inputs = new List<NamedOnnxValue>();
    foreach (JsonProperty p in run.GetProperty("inputs").EnumerateObject())
    {
        int[] shape = p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        JsonElement data = p.Value.GetProperty("data");
        inputs.Add(p.Value.GetProperty("dtype").GetString() switch
        {
            "int64" => NamedOnnxValue.CreateFromTensor(p.Name, new DenseTensor<long>(data.EnumerateArray().Select(e => e.GetInt64()).ToArray(), shape)),
            "float32" => NamedOnnxValue.CreateFromTensor(p.Name, new DenseTensor<float>(data.EnumerateArray().Select(e => e.GetSingle()).ToArray(), shape)),
            "bool" => NamedOnnxValue.CreateFromTensor(p.Name, new DenseTensor<bool>(data.EnumerateArray().Select(e => e.GetBoolean()).ToArray(), shape)),
            var other => throw new ArgumentException($"unsupported dtype {other}"),
        });
    }
    using IDisposableReadOnlyCollection<DisposableNamedOnnxValue> outputs = session.Run(inputs);
    var result = new Dictionary<string, object>();
    foreach (DisposableNamedOnnxValue o in outputs)
    {
        Tensor<float> t = o.AsTensor<float>();
        result[o.Name] = new { shape = t.Dimensions.ToArray(), data = t.ToArray() };
    }
    results.Add(result);
}
File.WriteAllText(args[1], JsonSerializer.Serialize(results));
foreach (InferenceSession s in sessions.Values)
    s.Dispose();
return 0;
