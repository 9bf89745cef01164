using System.Text.Json;

namespace Serverless.Inference.Model;

/// <summary>The dimensions and special token ids of a T5 model, read from <c>config.json</c> (and <c>generation_config.json</c>).</summary>
internal sealed record T5Config
{
    public required int DModel { get; init; }
    public required int DKv { get; init; }
    public required int NumHeads { get; init; }
    public required int NumLayers { get; init; }
    public required int NumDecoderLayers { get; init; }
    public required int VocabSize { get; init; }
    public required int NPositions { get; init; }
    public required int DecoderStartTokenId { get; init; }
    /// <summary>Every token that ends a sequence (generation_config.json may list several); the first is the primary one.</summary>
    public required int[] EosTokenIds { get; init; }
    public required int PadTokenId { get; init; }

    public int EosTokenId => EosTokenIds[0];

    /// <summary>Reads <c>config.json</c>; special token ids in <c>generation_config.json</c> (if given) win, as in HF.</summary>
    public static T5Config Load(string configPath, string? generationConfigPath)
    {
        using var config = Parse(configPath);
        using var generation = generationConfigPath is null ? null : Parse(generationConfigPath);
        var root = config.RootElement;
        var file = Path.GetFileName(configPath);

        int Required(string name) => TryInt(root, name) ?? throw new ModelFormatException(
            $"{file} in '{Path.GetDirectoryName(configPath)}' has no integer '{name}'; it is required to run the model.");
        int Special(string name, int fallback) =>
            (generation is null ? null : TryInt(generation.RootElement, name)) ?? TryInt(root, name) ?? fallback;

        var numLayers = Required("num_layers");
        var eos = (generation is null ? null : TryIntArray(generation.RootElement, "eos_token_id"))
            ?? TryIntArray(root, "eos_token_id") ?? [1];
        var result = new T5Config
        {
            DModel = Required("d_model"),
            DKv = Required("d_kv"),
            NumHeads = Required("num_heads"),
            NumLayers = numLayers,
            NumDecoderLayers = TryInt(root, "num_decoder_layers") ?? numLayers,
            VocabSize = Required("vocab_size"),
            // T5 has relative positions and no hard limit; n_positions is the length it was trained for.
            NPositions = TryInt(root, "n_positions") ?? 512,
            DecoderStartTokenId = Special("decoder_start_token_id", 0),
            EosTokenIds = eos.Length == 0 ? [1] : eos,
            PadTokenId = Special("pad_token_id", 0),
        };
        foreach (var (name, value) in new[] { ("d_model", result.DModel), ("d_kv", result.DKv), ("num_heads", result.NumHeads),
                     ("num_layers", result.NumLayers), ("num_decoder_layers", result.NumDecoderLayers), ("vocab_size", result.VocabSize), ("n_positions", result.NPositions) })
        {
            if (value <= 0)
                throw new ModelFormatException($"{file} in '{Path.GetDirectoryName(configPath)}' has {name} = {value}; it must be positive.");
        }
        return result;
    }

    internal static JsonDocument Parse(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"{Path.GetFileName(path)} in '{Path.GetDirectoryName(path)}' is not valid JSON: {e.Message}", e);
        }
    }

    internal static int? TryInt(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : null;

    private static int[]? TryIntArray(JsonElement obj, string name)
    {
        if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(name, out var v))
            return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var single))
            return [single];
        if (v.ValueKind == JsonValueKind.Array)
            return v.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.Number).Select(e => e.GetInt32()).ToArray();
        return null;
    }
}
