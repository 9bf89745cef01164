namespace Serverless.Quantization;

/// <summary>
/// The model cannot be quantized as asked: a graph holds something the quantizer does not handle (the message names
/// the file, the node and the operator or tensor), or a file is missing or malformed.
/// </summary>
public sealed class QuantizationException(string message, Exception? inner = null) : Exception(message, inner);
