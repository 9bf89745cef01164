using Serverless.Inference.Model;

namespace Serverless.Inference.Tests.Model;

/// <summary>The graphs' sessions are created side by side (cold start): a graph that cannot be read still fails the load
/// with the error naming it, whichever graph it is, and the load can be done again.</summary>
public sealed class SessionOpeningTests : IDisposable
{
    private readonly List<string> _folders = [];

    [Theory]
    [InlineData("encoder_model.onnx")]
    [InlineData("decoder_model.onnx")]
    [InlineData("decoder_with_past_model.onnx")]
    public void A_graph_onnx_runtime_cannot_read_fails_the_load_naming_it(string damaged)
    {
        var folder = TinyModels.CopyModel();
        _folders.Add(folder);
        File.WriteAllBytes(Path.Combine(folder, damaged), "not a graph"u8.ToArray());

        var e = Assert.Throws<ModelFormatException>(() => T5Model.Load(folder));

        Assert.Contains(damaged, e.Message);
        Assert.Contains("could not be loaded by ONNX Runtime", e.Message);
        File.Copy(Path.Combine(TinyModels.ModelDirectory, damaged), Path.Combine(folder, damaged), overwrite: true);
        using var repaired = T5Model.Load(folder);
        Assert.False(repaired.IsMerged);
    }

    public void Dispose()
    {
        foreach (var folder in _folders)
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
        }
    }
}
