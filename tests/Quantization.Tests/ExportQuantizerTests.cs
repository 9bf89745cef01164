using System.Security.Cryptography;
using Serverless.Inference;
using Serverless.Inference.Generation;
using Serverless.Inference.Model;
using Serverless.Inference.Onnx;

namespace Serverless.Quantization.Tests;

public class ExportQuantizerTests
{
    [Fact]
    public async Task Writes_Optimum_named_files_with_the_tokenizer_and_config_copied_and_the_engine_loads_them()
    {
        var output = TestModels.TempFolder();
        var files = await ExportQuantizer.QuantizeAsync(TestModels.Demo, output, new QuantizationOptions { Bits = 4 });

        Assert.Equal(
            ["config.json", "decoder_model_merged_quantized.onnx", "decoder_model_quantized.onnx", "decoder_with_past_model_quantized.onnx",
             "encoder_model_quantized.onnx", "generation_config.json", "spiece.model"],
            Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(File.ReadAllBytes(Path.Combine(TestModels.Demo, "spiece.model")), File.ReadAllBytes(Path.Combine(output, "spiece.model")));
        Assert.All(files, f => Assert.True(f.OutputBytes < f.SourceBytes, $"{f.Output} is not smaller"));

        // The engine's own loader, as Model__UseQuantized=true / --quantized use it.
        using var model = T5Model.Load(output, new ModelOptions { UseQuantized = true });
        Assert.False(model.IsMerged); // all three quantized: the split pair, as in fp32
        var result = (await model.GenerateAsync(["Where is Ganymede located in the solar system?"], new GenerationOptions { MaxNewTokens = 8 }))[0];
        Assert.NotEmpty(result.OutputIds);
    }

    [Fact]
    public async Task Writes_beside_the_originals_and_handles_the_split_decoder_pair()
    {
        var folder = TestModels.CopyDemo("decoder_model_merged.onnx");
        var files = await ExportQuantizer.QuantizeAsync(folder, null, new QuantizationOptions());

        Assert.Equal(["encoder_model_quantized.onnx", "decoder_model_quantized.onnx", "decoder_with_past_model_quantized.onnx"],
            files.Select(f => Path.GetFileName(f.Output)));
        Assert.All(files, f => Assert.Equal(folder, Path.GetDirectoryName(f.Output)));
        using var model = T5Model.Load(folder, new ModelOptions { UseQuantized = true });
        Assert.False(model.IsMerged);
        Assert.NotEmpty(model.Generate([[5, 6, 7, 1]], new GenerationOptions { MaxNewTokens = 4 })[0].OutputIds);
    }

    [Fact]
    public async Task An_incomplete_export_is_an_error_naming_what_is_missing()
    {
        var folder = TestModels.CopyDemo("decoder_model_merged.onnx", "decoder_with_past_model.onnx");
        var e = await Assert.ThrowsAsync<QuantizationException>(() => ExportQuantizer.QuantizeAsync(folder, null, new QuantizationOptions()));
        Assert.Contains("decoder_with_past_model.onnx", e.Message);
    }

    [Theory]
    [InlineData(8, 32)]
    [InlineData(4, 128)]
    public async Task The_same_input_and_options_give_byte_identical_files(int bits, int blockSize)
    {
        var options = new QuantizationOptions { Bits = bits, BlockSize = blockSize };
        string first = TestModels.TempFolder(), second = TestModels.TempFolder();
        await ExportQuantizer.QuantizeAsync(TestModels.Demo, first, options);
        await ExportQuantizer.QuantizeAsync(TestModels.Demo, second, options);

        var names = Directory.GetFiles(first).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(names, Directory.GetFiles(second).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (var name in names)
            Assert.Equal(Hash(Path.Combine(first, name!)), Hash(Path.Combine(second, name!)));
        // Different options give different files (the comparison above can fail).
        var other = TestModels.TempFolder();
        await ExportQuantizer.QuantizeAsync(TestModels.Demo, other, options with { BlockSize = blockSize == 32 ? 64 : 32 });
        Assert.NotEqual(Hash(Path.Combine(first, "encoder_model_quantized.onnx")), Hash(Path.Combine(other, "encoder_model_quantized.onnx")));
    }

    [Fact]
    public async Task Reads_and_writes_external_data_and_the_engine_loads_it()
    {
        // An fp32 export whose tensors are external data (as Optimum writes models over 2 GB).
        var external = TestModels.CopyDemo("decoder_model.onnx", "decoder_with_past_model.onnx", "encoder_model.onnx", "decoder_model_merged.onnx");
        foreach (var name in new[] { "encoder_model.onnx", "decoder_model_merged.onnx" })
        {
            var written = OnnxModelFile.Save(OnnxModelFile.Load(Path.Combine(TestModels.Demo, name)), Path.Combine(external, name), externalDataThreshold: 0);
            Assert.Equal(2, written.Count);
            Assert.True(new FileInfo(Path.Combine(external, name)).Length * 5 < new FileInfo(Path.Combine(TestModels.Demo, name)).Length,
                "the weights should have moved out of the .onnx file");
        }

        string inline = TestModels.TempFolder(), fromExternal = TestModels.TempFolder(), toExternal = TestModels.TempFolder();
        var merged = Path.Combine(TestModels.Demo, "decoder_model_merged.onnx");
        ExportQuantizer.QuantizeFile(merged, Path.Combine(inline, "q.onnx"), new QuantizationOptions());
        ExportQuantizer.QuantizeFile(Path.Combine(external, "decoder_model_merged.onnx"), Path.Combine(fromExternal, "q.onnx"), new QuantizationOptions());
        // Reading external data gives the same quantized model as reading inline tensors.
        Assert.Equal(Hash(Path.Combine(inline, "q.onnx")), Hash(Path.Combine(fromExternal, "q.onnx")));

        // Written with external data, the quantized export loads in the engine and decodes like the inline one.
        await ExportQuantizer.QuantizeAsync(external, toExternal, new QuantizationOptions { ExternalDataThreshold = 0 });
        Assert.True(File.Exists(Path.Combine(toExternal, "decoder_model_merged_quantized.onnx_data")));
        var inlineExport = TestModels.TempFolder();
        await ExportQuantizer.QuantizeAsync(TestModels.Demo, inlineExport, new QuantizationOptions());
        using var a = T5Model.Load(toExternal, new ModelOptions { UseQuantized = true });
        using var b = T5Model.Load(inlineExport, new ModelOptions { UseQuantized = true });
        var options = new GenerationOptions { MaxNewTokens = 12 };
        Assert.Equal(b.Generate([[8, 9, 10, 11, 1]], options)[0].OutputIds, a.Generate([[8, 9, 10, 11, 1]], options)[0].OutputIds);
    }

    [Fact]
    public void A_missing_external_data_file_is_an_error_naming_the_tensor_and_file()
    {
        var folder = TestModels.TempFolder();
        var path = Path.Combine(folder, "encoder_model.onnx");
        OnnxModelFile.Save(OnnxModelFile.Load(Path.Combine(TestModels.Demo, "encoder_model.onnx")), path, externalDataThreshold: 0);
        File.Delete(path + "_data");
        var e = Assert.Throws<ModelFormatException>(() => OnnxModelFile.Load(path));
        Assert.Contains("encoder_model.onnx_data", e.Message);
        Assert.Contains("tensor '", e.Message);
    }

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
}
