using System.Buffers.Binary;

namespace TeeAspire.Attestation.Verifier.Sealing;

/// <summary>Reads EHBP frames (§4.3) from a stream.</summary>
public static class EhbpFrames
{
    /// <summary>Bytes a frame's buffer starts with; it grows (doubling, up to the announced length) only as bytes arrive.</summary>
    public const int InitialBuffer = 16 << 10;

    /// <summary>
    /// The next frame's ciphertext (empty for an empty frame), or null at the clean end of the body.
    /// Throws <see cref="EhbpException"/> for a truncated prefix, a truncated frame or one longer than <paramref name="maxLength"/>.
    /// The 4-byte length prefix is the sender's word only: no buffer is sized from it before the
    /// bytes are there, so a sender that announces a large frame and trickles holds at most twice
    /// what it actually sent.
    /// </summary>
    public static async ValueTask<byte[]?> ReadAsync(Stream body, int maxLength, CancellationToken cancellationToken)
    {
        var prefix = new byte[Ehbp.LengthPrefix];
        var got = await ReadFullyAsync(body, prefix, 0, cancellationToken);
        if (got == 0) return null;
        if (got < prefix.Length) throw new EhbpException("the sealed body ends inside a length prefix");
        var length = BinaryPrimitives.ReadUInt32BigEndian(prefix);
        if (length > (uint)maxLength) throw new EhbpException("a sealed chunk is longer than allowed", tooLong: true);
        var frame = new byte[Math.Min((int)length, InitialBuffer)];
        var filled = 0;
        while (true)
        {
            filled = await ReadFullyAsync(body, frame, filled, cancellationToken);
            if (filled < frame.Length) throw new EhbpException("the sealed body ends inside a chunk");
            if (filled == (int)length) return frame;
            Array.Resize(ref frame, (int)Math.Min(length, 2L * frame.Length));
        }
    }

    private static async ValueTask<int> ReadFullyAsync(Stream body, byte[] buffer, int total, CancellationToken cancellationToken)
    {
        while (total < buffer.Length)
        {
            var n = await body.ReadAsync(buffer.AsMemory(total), cancellationToken);
            if (n == 0) break;
            total += n;
        }
        return total;
    }
}

/// <summary>
/// The plaintext of a sealed body, opened frame by frame as it arrives: a frame's plaintext is
/// released only after it authenticated; bad framing or a forged chunk throws <see cref="EhbpException"/>.
/// </summary>
public sealed class EhbpOpeningStream(Stream sealedBody, Func<byte[], byte[]?> open, int maxChunkLength = 16 << 20, IDisposable? owned = null) : Stream
{
    private byte[] _buffer = [];
    private int _offset;
    private bool _ended;

    /// <summary>Opens a response body with the response AEAD.</summary>
    public static EhbpOpeningStream ForResponse(Stream sealedBody, ResponseAead aead) => new(sealedBody, c => aead.Open(c), owned: aead);

    /// <inheritdoc />
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (_offset == _buffer.Length)
        {
            if (_ended) return 0;
            var frame = await EhbpFrames.ReadAsync(sealedBody, maxChunkLength, cancellationToken);
            if (frame is null)
            {
                _ended = true;
                return 0;
            }
            if (frame.Length == 0) continue;
            _buffer = open(frame) ?? throw new EhbpException("a sealed chunk does not authenticate");
            _offset = 0;
        }
        var n = Math.Min(buffer.Length, _buffer.Length - _offset);
        _buffer.AsMemory(_offset, n).CopyTo(buffer);
        _offset += n;
        return n;
    }

    /// <inheritdoc />
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            sealedBody.Dispose();
            owned?.Dispose();
        }
        base.Dispose(disposing);
    }

    /// <inheritdoc />
    public override bool CanRead => true;
    /// <inheritdoc />
    public override bool CanSeek => false;
    /// <inheritdoc />
    public override bool CanWrite => false;
    /// <inheritdoc />
    public override long Length => throw new NotSupportedException();
    /// <inheritdoc />
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    /// <inheritdoc />
    public override void Flush() { }
    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    /// <inheritdoc />
    public override void SetLength(long value) => throw new NotSupportedException();
    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>
/// Seals what is written to it: every non-empty write becomes one frame, written and flushed at
/// once so a stream (SSE) keeps flowing chunk by chunk.
/// </summary>
public sealed class EhbpSealingStream(Stream inner, Func<ReadOnlyMemory<byte>, byte[]> seal) : Stream
{
    /// <inheritdoc />
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty) return;
        await inner.WriteAsync(Ehbp.Frame(seal(buffer)), cancellationToken);
        await inner.FlushAsync(cancellationToken);
    }

    /// <inheritdoc />
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc />
    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    /// <inheritdoc />
    public override void Flush() => inner.Flush();

    /// <inheritdoc />
    public override bool CanRead => false;
    /// <inheritdoc />
    public override bool CanSeek => false;
    /// <inheritdoc />
    public override bool CanWrite => true;
    /// <inheritdoc />
    public override long Length => throw new NotSupportedException();
    /// <inheritdoc />
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    /// <inheritdoc />
    public override void SetLength(long value) => throw new NotSupportedException();
}

/// <summary>
/// An EHBP client as an <see cref="HttpMessageHandler"/>: seals every request body to the server's
/// key and opens every answer; a 2xx answer without a response nonce, or one that does not
/// authenticate, fails (SPEC.md §5.1, §5.3). Non-2xx answers without a nonce pass through
/// unauthenticated (they come from an intermediary, or someone forging one).
/// </summary>
public sealed class EhbpHandler(byte[] serverPublicKey, HttpMessageHandler inner) : DelegatingHandler(inner)
{
    // Request contexts prepared while earlier requests are out, each used once; bound to this handler's key.
    private readonly HpkeSenderPool _senders = Ehbp.SenderPool(serverPublicKey);

    /// <summary>Header this handler adds to a passed-through answer that was not sealed.</summary>
    public const string UnsealedHeader = "x-ehbp-unsealed";

    /// <inheritdoc />
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Content is null) return await base.SendAsync(request, cancellationToken);
        var body = await request.Content.ReadAsByteArrayAsync(cancellationToken);
        if (body.Length == 0) return await base.SendAsync(request, cancellationToken);
        var (enc, sealedBody, state) = Ehbp.SealRequest(_senders, serverPublicKey, body);
        request.Content = new ByteArrayContent(sealedBody).WithHeadersOf(request.Content);
        request.Headers.Remove(Ehbp.EncapsulatedKeyHeader);
        request.Headers.TryAddWithoutValidation(Ehbp.EncapsulatedKeyHeader, Ehbp.Hex(enc));

        var sending = base.SendAsync(request, cancellationToken);
        // The request is on its way and its answer takes far longer than this: prepare the next
        // request's context now, on this thread, rather than on a woken thread-pool thread.
        _senders.Prepare();
        var response = await sending;
        // Read unparsed; more than one nonce is malformed (an empty string, which ParseHex refuses).
        var nonceHeader = response.Headers.NonValidated.TryGetValues(Ehbp.ResponseNonceHeader, out var values) ? (values.Count == 1 ? values.ToString() : "") : null;
        if (nonceHeader is null)
        {
            if (response.IsSuccessStatusCode)
            {
                response.Dispose();
                throw new EhbpException("the server answered a sealed request with an unsealed success");
            }
            response.Headers.TryAddWithoutValidation(UnsealedHeader, "1");
            return response;
        }
        var nonce = Ehbp.ParseHex(nonceHeader, Ehbp.ResponseNonceLength);
        if (nonce is null)
        {
            response.Dispose();
            throw new EhbpException("the server's response nonce is malformed");
        }
        response.Content = new StreamContent(EhbpOpeningStream.ForResponse(await response.Content.ReadAsStreamAsync(cancellationToken), state.ResponseAead(nonce)))
            .WithHeadersOf(response.Content);
        return response;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) _senders.Dispose();
        base.Dispose(disposing);
    }
}
