namespace Serverless.Quantization;

/// <summary>A weight in the layout <c>com.microsoft.MatMulNBits</c> reads.</summary>
/// <param name="Packed">
/// <c>[N, blocks, blockSize·bits/8]</c>: for each output column n, its K weights in blocks along K, codes packed
/// low bits first (4-bit: element 2i in the low nibble, 2i+1 in the high nibble).
/// </param>
/// <param name="Scales"><c>[N·blocks]</c>, column-major by block: scale of column n, block b at n·blocks + b.</param>
/// <param name="ZeroPoints">
/// <c>[N·ceil(blocks·bits/8)]</c>: per column, the blocks' zero points packed the same way (low bits first), each
/// column starting on a byte.
/// </param>
internal sealed record BlockQuantizedWeight(int K, int N, int Bits, int BlockSize, int Blocks, byte[] Packed, float[] Scales, byte[] ZeroPoints);

/// <summary>
/// Asymmetric block-wise quantization of a MatMul weight <c>B[K, N]</c> along K, as ONNX Runtime's
/// <c>MatMulNBits</c> dequantizes it: <c>B[k, n] ≈ (code − zero_point) · scale</c> per block of <c>blockSize</c>
/// consecutive k. Each block's range includes 0, so zero (and the padding of a last partial block) is exact.
/// Single-threaded float arithmetic in a fixed order: the same weight always gives the same bytes.
/// </summary>
internal static class BlockQuantizer
{
    /// <param name="symmetric">
    /// Zero point fixed at 2^(bits−1) (then not stored): the block's value of largest magnitude maps to code 0
    /// exactly, as ONNX Runtime's own quantizer does, so the scale may be negative.
    /// </param>
    public static BlockQuantizedWeight Quantize(ReadOnlySpan<float> weight, int k, int n, int bits, int blockSize, bool symmetric = false)
    {
        if (weight.Length != (long)k * n)
            throw new ArgumentException($"The weight has {weight.Length} values, not K·N = {k}·{n}.", nameof(weight));
        var blocks = (k + blockSize - 1) / blockSize;
        var blobSize = blockSize * bits / 8;
        var zeroPointBytesPerColumn = (blocks * bits + 7) / 8;
        var maxCode = (1 << bits) - 1;
        var packed = new byte[(long)n * blocks * blobSize];
        var scales = new float[n * blocks];
        var zeroPoints = new byte[n * zeroPointBytesPerColumn];
        Span<float> block = stackalloc float[blockSize];

        for (var column = 0; column < n; column++)
        {
            for (var b = 0; b < blocks; b++)
            {
                var start = b * blockSize;
                var count = Math.Min(blockSize, k - start);
                float min = 0, max = 0;
                for (var i = 0; i < count; i++)
                {
                    var v = weight[(start + i) * n + column];
                    block[i] = v;
                    if (v < min) min = v;
                    if (v > max) max = v;
                }
                float scale;
                int zeroPoint;
                if (symmetric)
                {
                    var extreme = -min > max ? min : max;
                    scale = extreme / -(1 << (bits - 1));
                    zeroPoint = 1 << (bits - 1);
                    if (scale == 0)
                        scale = 1;
                }
                else if ((scale = (max - min) / maxCode) == 0)
                {
                    // An all-zero block: any scale decodes it exactly; the middle code keeps it symmetric.
                    scale = 1;
                    zeroPoint = 1 << (bits - 1);
                }
                else
                {
                    zeroPoint = Math.Clamp((int)MathF.Round(-min / scale, MidpointRounding.ToEven), 0, maxCode);
                }
                var inverse = 1 / scale;
                var blobStart = (column * blocks + b) * blobSize;
                for (var i = 0; i < blockSize; i++)
                {
                    var code = i < count
                        ? Math.Clamp((int)MathF.Round(block[i] * inverse, MidpointRounding.ToEven) + zeroPoint, 0, maxCode)
                        : zeroPoint; // padding past K decodes to exactly 0
                    Pack(packed, blobStart, i, code, bits);
                }
                scales[column * blocks + b] = scale;
                Pack(zeroPoints, column * zeroPointBytesPerColumn, b, zeroPoint, bits);
            }
        }
        return new BlockQuantizedWeight(k, n, bits, blockSize, blocks, packed, scales, zeroPoints);
    }

    /// <summary>Reconstructs <c>B[K, N]</c> from the packed form: the inverse of <see cref="Quantize"/>, for tests and checks.</summary>
    public static float[] Dequantize(BlockQuantizedWeight q)
    {
        var result = new float[q.K * q.N];
        var blobSize = q.BlockSize * q.Bits / 8;
        var zeroPointBytesPerColumn = (q.Blocks * q.Bits + 7) / 8;
        for (var column = 0; column < q.N; column++)
        {
            for (var b = 0; b < q.Blocks; b++)
            {
                var scale = q.Scales[column * q.Blocks + b];
                var zeroPoint = Unpack(q.ZeroPoints, column * zeroPointBytesPerColumn, b, q.Bits);
                for (var i = 0; i < q.BlockSize && b * q.BlockSize + i < q.K; i++)
                {
                    var code = Unpack(q.Packed, (column * q.Blocks + b) * blobSize, i, q.Bits);
                    result[(b * q.BlockSize + i) * q.N + column] = (code - zeroPoint) * scale;
                }
            }
        }
        return result;
    }

    private static void Pack(byte[] buffer, int start, int index, int code, int bits)
    {
        if (bits == 8)
        {
            buffer[start + index] = (byte)code;
            return;
        }
        var shift = index % 2 * 4;
        buffer[start + index / 2] |= (byte)(code << shift);
    }

    private static int Unpack(byte[] buffer, int start, int index, int bits) =>
        bits == 8 ? buffer[start + index] : (buffer[start + index / 2] >> (index % 2 * 4)) & 0xF;
}
