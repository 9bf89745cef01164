namespace Serverless.Quantization;

/// <summary>A weight in the layout <c>MatMulInteger</c> reads: int8 codes <c>[K, N]</c> (unchanged layout) and one scale per column.</summary>
internal sealed record ColumnQuantizedWeight(int K, int N, sbyte[] Codes, float[] Scales);

/// <summary>
/// Symmetric per-column int8 quantization of a MatMul weight <c>B[K, N]</c> (zero point 0): <c>B[k, n] ≈ code · scale[n]</c>,
/// <c>scale[n] = max|B[·, n]| / 127</c>. Deterministic: single-threaded, fixed order.
/// </summary>
internal static class ColumnQuantizer
{
    public static ColumnQuantizedWeight Quantize(ReadOnlySpan<float> weight, int k, int n)
    {
        var scales = new float[n];
        for (var row = 0; row < k; row++)
        {
            for (var column = 0; column < n; column++)
                scales[column] = MathF.Max(scales[column], MathF.Abs(weight[row * n + column]));
        }
        for (var column = 0; column < n; column++)
            scales[column] = scales[column] == 0 ? 1 : scales[column] / 127;
        var codes = new sbyte[k * n];
        for (var row = 0; row < k; row++)
        {
            for (var column = 0; column < n; column++)
                codes[row * n + column] = (sbyte)Math.Clamp((int)MathF.Round(weight[row * n + column] / scales[column], MidpointRounding.ToEven), -127, 127);
        }
        return new ColumnQuantizedWeight(k, n, codes, scales);
    }
}
