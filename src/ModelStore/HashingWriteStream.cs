using System.Diagnostics;
using System.Security.Cryptography;

namespace Serverless.ModelStore;

/// <summary>
/// A write-only pass-through that SHA-256-hashes what it writes, so a download is hashed on its way to disk rather than
/// read back afterwards. The SDK writes ranges in order; if anything seeks, the hash is marked unusable and the caller
/// hashes the finished file instead.
/// </summary>
internal sealed class HashingWriteStream(Stream inner) : Stream
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private long _written;
    private long _hashTicks;

    /// <summary>False when the writer seeked, so the running hash does not describe the file.</summary>
    public bool IsSequential { get; private set; } = true;

    public long BytesWritten => _written;

    /// <summary>Time spent hashing (part of the download's time, on the thread that writes): the cold-start log reports it.</summary>
    public TimeSpan HashTime => Stopwatch.GetElapsedTime(0, _hashTicks);

    public string GetHashHex() => Convert.ToHexStringLower(_hash.GetHashAndReset());

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        Hash(buffer);
        inner.Write(buffer);
        _written += buffer.Length;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Hash(buffer.Span);
        await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        _written += buffer.Length;
    }

    private void Hash(ReadOnlySpan<byte> buffer)
    {
        var started = Stopwatch.GetTimestamp();
        _hash.AppendData(buffer);
        _hashTicks += Stopwatch.GetTimestamp() - started;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush() => inner.Flush();
    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => _written;

    public override long Position
    {
        get => _written;
        set
        {
            if (value == _written) return;
            IsSequential = false;
            throw new NotSupportedException("Model downloads are written sequentially.");
        }
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        IsSequential = false;
        throw new NotSupportedException("Model downloads are written sequentially.");
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) _hash.Dispose();
        base.Dispose(disposing);
    }
}
