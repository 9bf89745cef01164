namespace Serverless.ModelStore.Tests;

public sealed class OnnxExternalDataTests
{
    [Theory]
    // ModelProto.graph (field 7, length-delimited) whose length varint is 2^64 - 1: past long.MaxValue.
    [InlineData(new byte[] { 0x3A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 })]
    // The same field claiming 2^63 bytes, exactly one past long.MaxValue.
    [InlineData(new byte[] { 0x3A, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 })]
    // A length that is merely larger than the file.
    [InlineData(new byte[] { 0x3A, 0x10, 0x00 })]
    public void ReadLocations_OfAFieldLongerThanTheFile_IsInvalidData(byte[] content)
    {
        var path = Path.Combine(Path.GetTempPath(), $"onnx-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, content);
        try
        {
            var error = Assert.Throws<InvalidDataException>(() => OnnxExternalData.ReadLocations(path));
            Assert.Contains("runs past its message", error.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
