using System.Text.Json.Nodes;
using Serverless.Inference.Generation;
using Serverless.Inference.Model;

namespace Serverless.Inference.Tests.Model;

/// <summary>Loading: file layouts, and every way a folder can be incomplete or disagree with config.json.</summary>
public sealed class ModelLoadTests : IDisposable
{
    private readonly List<string> _folders = [];

    private string Copy(string? exclude = null, bool onnxSubfolder = false)
    {
        var folder = TinyModels.CopyModel(exclude, onnxSubfolder);
        _folders.Add(folder);
        return folder;
    }

    private static void EditConfig(string folder, string key, int value, string file = "config.json")
    {
        var path = Path.Combine(folder, file);
        var config = JsonNode.Parse(File.ReadAllText(path))!;
        config[key] = value;
        File.WriteAllText(path, config.ToJsonString());
    }

    [Fact]
    public void Loads_files_under_onnx_subfolder_and_prefers_the_split_decoders()
    {
        using var model = T5Model.Load(Copy(onnxSubfolder: true));
        Assert.False(model.IsMerged);
        Assert.Equal(512, model.ContextWindow);
        using var merged = T5Model.Load(Copy(exclude: "decoder_model.onnx"));
        Assert.True(merged.IsMerged);
    }

    [Fact]
    public void Missing_folder_is_named()
    {
        var folder = Path.Combine(Path.GetTempPath(), "no-such-model-" + Guid.NewGuid().ToString("N"));
        var e = Assert.Throws<ModelFormatException>(() => T5Model.Load(folder));
        Assert.Contains(folder, e.Message);
    }

    [Theory]
    [InlineData("config.json", "config.json")]
    [InlineData("spiece.model", "spiece.model")]
    [InlineData("encoder_model.onnx", "encoder_model.onnx")]
    [InlineData("decoder_model_merged.onnx,decoder_with_past_model.onnx", "decoder_with_past_model.onnx")]
    [InlineData("decoder_model_merged.onnx,decoder_model.onnx", "decoder_model.onnx")]
    public void Missing_file_names_the_file_and_the_folder(string exclude, string named)
    {
        var folder = Copy(exclude);
        var e = Assert.Throws<ModelFormatException>(() => T5Model.Load(folder));
        Assert.Contains(named, e.Message);
        Assert.Contains(folder, e.Message);
    }

    [Fact]
    public void Quantized_variant_missing_is_named()
    {
        var e = Assert.Throws<ModelFormatException>(() => T5Model.Load(Copy(), new ModelOptions { UseQuantized = true }));
        Assert.Contains("encoder_model_quantized.onnx", e.Message);
        Assert.Contains("serverless model quantize", e.Message);
    }

    [Theory]
    [InlineData("num_heads", 8, "decoder_model_merged.onnx", "num_heads")]
    [InlineData("d_kv", 32, "decoder_model_merged.onnx", "d_kv")]
    [InlineData("d_model", 128, "encoder_model.onnx", "d_model")]
    [InlineData("vocab_size", 2048, "decoder_model_merged.onnx", "vocab_size")]
    [InlineData("num_decoder_layers", 3, "decoder_model_merged.onnx", "past_key_values.2.decoder.key")]
    [InlineData("num_decoder_layers", 1, "decoder_model_merged.onnx", "num_decoder_layers")]
    public void Config_that_disagrees_with_the_graph_is_named(string key, int value, string file, string named)
    {
        var folder = Copy(exclude: file == "encoder_model.onnx" ? null : "decoder_model.onnx,decoder_with_past_model.onnx");
        EditConfig(folder, key, value);
        var e = Assert.Throws<ModelFormatException>(() => T5Model.Load(folder));
        Assert.Contains(file, e.Message);
        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void Split_decoders_are_checked_too()
    {
        var folder = Copy();
        EditConfig(folder, "num_heads", 2);
        var e = Assert.Throws<ModelFormatException>(() => T5Model.Load(folder));
        Assert.Contains("decoder_model.onnx", e.Message);
        Assert.Contains("num_heads", e.Message);
    }

    [Fact]
    public void Config_without_a_required_dimension_is_named()
    {
        var folder = Copy();
        var path = Path.Combine(folder, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        config.Remove("d_kv");
        File.WriteAllText(path, config.ToJsonString());
        var e = Assert.Throws<ModelFormatException>(() => T5Model.Load(folder));
        Assert.Contains("d_kv", e.Message);
        Assert.Contains("config.json", e.Message);
    }

    [Fact]
    public void Generation_config_values_become_defaults()
    {
        var folder = Copy();
        EditConfig(folder, "num_beams", 3, "generation_config.json");
        EditConfig(folder, "max_new_tokens", 7, "generation_config.json");
        using var model = T5Model.Load(folder);
        Assert.Equal(3, model.DefaultGenerationOptions.NumBeams);
        Assert.Equal(7, model.DefaultGenerationOptions.MaxNewTokens);
        Assert.Equal(new GenerationOptions().TopK, model.DefaultGenerationOptions.TopK);
    }

    public void Dispose()
    {
        foreach (var folder in _folders)
        {
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
