namespace Serverless.Quantization.Tests;

public class BlockQuantizerTests
{
    [Theory]
    [InlineData(4, 32, 64, 24, false)]
    [InlineData(4, 128, 80, 7, false)]   // K shorter than a block: one padded block
    [InlineData(8, 32, 80, 5, false)]    // K not a multiple of the block size
    [InlineData(8, 64, 128, 3, false)]
    [InlineData(4, 32, 80, 7, true)]
    [InlineData(8, 64, 128, 3, true)]
    // Symmetric blocks clamp the far side of the range at 2^(bits−1)−1 steps: up to one step off there.
    public void Every_weight_comes_back_within_half_a_step_of_its_block(int bits, int blockSize, int k, int n, bool symmetric)
    {
        var weight = TestModels.Random(k * n, seed: k + n);
        var q = BlockQuantizer.Quantize(weight, k, n, bits, blockSize, symmetric);
        var back = BlockQuantizer.Dequantize(q);

        Assert.Equal((k + blockSize - 1) / blockSize, q.Blocks);
        Assert.Equal(n * q.Blocks * blockSize * bits / 8, q.Packed.Length);
        Assert.Equal(n * q.Blocks, q.Scales.Length);
        Assert.Equal(n * ((q.Blocks * bits + 7) / 8), q.ZeroPoints.Length);
        for (var row = 0; row < k; row++)
        {
            for (var column = 0; column < n; column++)
            {
                var scale = q.Scales[column * q.Blocks + row / blockSize];
                Assert.InRange(Math.Abs(back[row * n + column] - weight[row * n + column]), 0, Math.Abs(scale) * (symmetric ? 1f : 0.5f) + 1e-6f);
            }
        }
    }

    [Fact]
    public void Codes_are_laid_out_per_output_column_in_blocks_along_K_low_nibble_first()
    {
        // W[k, n] = k for column 0 and -k for column 1 (K = 4, one block of 16 with zero padding): the codes of
        // column 0 must come first, consecutive k in one byte, the lower k in the low nibble.
        const int k = 4, n = 2;
        var weight = new float[k * n];
        for (var row = 0; row < k; row++)
        {
            weight[row * n] = row;
            weight[row * n + 1] = -row;
        }
        var q = BlockQuantizer.Quantize(weight, k, n, bits: 4, blockSize: 16);

        // Column 0: range [0, 3], scale 3/15 = 0.2, zero point 0, codes 0, 5, 10, 15 then padding (zero point 0).
        Assert.Equal(0.2f, q.Scales[0], 6);
        Assert.Equal([0x50, 0xF0 | 0x0A, 0, 0, 0, 0, 0, 0], q.Packed[..8]);
        // Column 1: range [-3, 0], zero point 15, codes 15, 10, 5, 0, then padding at the zero point 15.
        Assert.Equal(0x0F, q.ZeroPoints[1] & 0x0F);
        Assert.Equal([0xAF, 0x05, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], q.Packed[8..16]);
    }

    [Fact]
    public void An_all_zero_block_decodes_to_zero()
    {
        var q = BlockQuantizer.Quantize(new float[64 * 2], 64, 2, bits: 4, blockSize: 32);
        Assert.All(BlockQuantizer.Dequantize(q), v => Assert.Equal(0f, v));
    }
}
