namespace Serverless.Quantization;

/// <summary>The operator form a quantized MatMul takes.</summary>
public enum QuantizedMatMulForm
{
    /// <summary><c>com.microsoft.MatMulNBits</c>: block-wise weights (4 or 8 bits) with per-block scales and zero points.</summary>
    MatMulNBits,

    /// <summary>
    /// <c>DynamicQuantizeLinear</c> + <c>MatMulInteger</c> (int8 weights, one scale per output column), the form
    /// Optimum's dynamic quantization writes; 8 bits only.
    /// </summary>
    MatMulInteger,
}

/// <summary>How to quantize a model's MatMul weights.</summary>
public sealed record QuantizationOptions
{
    /// <summary>Bits per weight: 4 or 8.</summary>
    public int Bits { get; init; } = 8;

    /// <summary>
    /// Weights per block along K sharing one scale and zero point: 32, 64 or 128; null picks
    /// <see cref="EffectiveBlockSize"/>'s default for the bits.
    /// </summary>
    public int? BlockSize { get; init; }

    /// <summary>
    /// The block size used: <see cref="BlockSize"/>, else 128 for 8 bits (256 levels resolve a 128-weight range finely,
    /// and fewer scales decode faster: 1.3–1.5× block 32 here) and 32 for 4 bits (16 levels need small blocks).
    /// </summary>
    public int EffectiveBlockSize => BlockSize ?? (Bits == 8 ? 128 : 32);

    public QuantizedMatMulForm Form { get; init; } = QuantizedMatMulForm.MatMulNBits;

    /// <summary>
    /// MatMulNBits without zero points (each block symmetric around 0, the default zero point 2^(bits−1)); false
    /// stores a zero point per block, so each block's own [min, max] range is used.
    /// </summary>
    public bool Symmetric { get; init; }

    /// <summary>
    /// Also quantize embedding tables read by <c>Gather</c> to 8 bits (block-wise along the embedding, as
    /// <c>com.microsoft.GatherBlockQuantized</c> reads them, with the same block size). A Gather reads one row per
    /// token, so this saves size and load time, not decode time; hence 8 bits even when the MatMuls get 4, since
    /// 4-bit embeddings would cost fidelity for no speed.
    /// </summary>
    public bool QuantizeEmbeddings { get; init; } = true;

    /// <summary>Bits per embedding weight (see <see cref="QuantizeEmbeddings"/>).</summary>
    public const int EmbeddingBits = 8;

    /// <summary>
    /// MatMulNBits <c>accuracy_level</c>: 0 leaves the choice to ONNX Runtime, 4 lets it quantize the activations to
    /// int8 per block and use integer dot products (the fast CPU path).
    /// </summary>
    public int AccuracyLevel { get; init; } = 4;

    /// <summary>
    /// Tensors are written to a <c>.onnx_data</c> file beside the model when all initializers together exceed this
    /// many bytes (a protobuf message cannot exceed 2 GiB). 0 always writes external data.
    /// </summary>
    public long ExternalDataThreshold { get; init; } = 1L << 30;

    /// <summary>Checks the values; the message names the bad option.</summary>
    public void Validate()
    {
        if (Bits is not (4 or 8))
            throw new ArgumentException($"--bits must be 8 or 4, not {Bits}.", nameof(Bits));
        if (BlockSize is not (null or 16 or 32 or 64 or 128 or 256))
            throw new ArgumentException($"--block-size must be 32, 64 or 128 (16 and 256 also work), not {BlockSize}.", nameof(BlockSize));
        if (Form == QuantizedMatMulForm.MatMulInteger && Bits != 8)
            throw new ArgumentException("The MatMulInteger form is 8-bit only; use --bits 8 or the MatMulNBits form.", nameof(Form));
        if (AccuracyLevel is < 0 or > 4)
            throw new ArgumentException($"accuracy_level must be 0 to 4, not {AccuracyLevel}.", nameof(AccuracyLevel));
        if (ExternalDataThreshold < 0)
            throw new ArgumentException("ExternalDataThreshold cannot be negative.", nameof(ExternalDataThreshold));
    }
}
