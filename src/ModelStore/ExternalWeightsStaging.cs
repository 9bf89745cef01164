using Serverless.Inference;
using Serverless.Inference.Onnx;

namespace Serverless.ModelStore;

/// <summary>
/// A temporary folder where <see cref="ModelUploader"/> rewrites the graphs of an upload so that their weights sit in
/// page-aligned external-data files beside them (<c>&lt;graph&gt;.onnx_data</c>, the ONNX external-data format Optimum
/// itself writes for large models), each distinct tensor once. ONNX Runtime then reads the weights from those files instead
/// of parsing them out of one protobuf message, so a new instance opens flan-t5-small's sessions about three times faster;
/// and the weights the decoders repeat (and the embedding the encoder shares) are fetched once: 308 MB instead of 593 MB
/// (docs/cold-start.md). Nodes, values and weights are unchanged; only where the weights are stored differs.
/// </summary>
internal sealed class ExternalWeightsStaging : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "serverless-upload-" + Guid.NewGuid().ToString("N"));

    /// <summary>
    /// Stages the graphs among <paramref name="files"/> (relative paths, read from <paramref name="paths"/>) and returns the
    /// files to upload in their place, by relative path: each staged graph and the data files written beside it. A graph
    /// keeps its form when its weights are external already, when it has none worth moving, when the upload has a file of
    /// its data file's name already, or when it is not readable as ONNX (the engine names that problem when it loads the graph).
    /// </summary>
    public IReadOnlyDictionary<string, string> Stage(IReadOnlyCollection<string> files, IReadOnlyDictionary<string, string> paths, CancellationToken cancellationToken)
    {
        var staged = new Dictionary<string, string>(StringComparer.Ordinal);
        var graphs = files.Where(f => f.EndsWith(".onnx", StringComparison.Ordinal) && !files.Contains(f + "_data"));
        // Weights are shared within one folder and one precision (a worker fetches only its precision's files), and the
        // merged decoder only reuses the others' weights: a worker that loads the split pair does not fetch its file.
        foreach (var group in graphs.GroupBy(f => (Folder: Path.GetDirectoryName(f) ?? "", Quantized: !ModelLayout.IsWanted(f, useQuantized: false))))
        {
            var folder = Path.Combine(_root, group.Key.Folder);
            Directory.CreateDirectory(folder);
            var shared = new SharedWeights(folder);
            foreach (var graph in group.OrderBy(IsMerged).ThenBy(f => f, StringComparer.Ordinal))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (Read(paths[graph]) is not { } model)
                    continue;
                var written = OnnxModelFile.Save(model, Path.Combine(_root, graph), externalDataThreshold: 0, IsMerged(graph) ? shared.ReuseOnly() : shared);
                staged[graph] = written[0];
                if (written.Count == 2)
                    staged[graph + "_data"] = written[1];
            }
        }
        return staged;
    }

    private static bool IsMerged(string graph) => Path.GetFileName(graph).StartsWith("decoder_model_merged", StringComparison.Ordinal);

    /// <summary>The graph, when it is readable ONNX with inline weights to move.</summary>
    private static Onnx.ModelProto? Read(string path)
    {
        try
        {
            if (OnnxExternalData.ReadLocations(path).Count > 0)
                return null;
            var model = OnnxModelFile.Load(path);
            return GraphWalker.AllGraphs(model.Graph).SelectMany(g => g.Initializer).Any(t => t.RawData.Length >= OnnxModelFile.ExternalMinimumBytes)
                ? model
                : null;
        }
        catch (Exception e) when (e is InvalidDataException or ModelFormatException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        try
        {
            if (Directory.Exists(_root))
                Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A temporary folder left behind is not worth failing an upload that succeeded.
        }
    }
}
