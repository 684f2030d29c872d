using System.Net;
using TeeAspire.Attestation.Verifier.Sealing;

namespace Gateway.Api.Forwarding;

/// <summary>
/// An event stream from an internal service, read so that the service dying mid-stream ends the
/// client's stream the way a backend failure does (an OpenAI error event, no <c>data: [DONE]</c>)
/// rather than in a reset connection: YARP aborts the client's connection on any upstream read
/// error once the response has started, so the error is turned into that event and a clean end
/// before YARP sees it. Cancellation (the client left, the upstream timed out) passes unchanged.
/// </summary>
internal sealed class UpstreamStreamGuard(Stream inner) : Stream
{
    internal static readonly byte[] FailureEvent =
        """data: {"error":{"message":"The inference service failed mid-stream; the answer is incomplete.","type":"server_error","param":null,"code":"upstream_failed"}}"""u8.ToArray();

    private byte[]? _tail;
    private int _tailAt;
    private byte _last = (byte)'\n';
    private byte _beforeLast = (byte)'\n';

    /// <summary>The response's content, guarded when it is an event stream.</summary>
    public static void Guard(HttpResponseMessage response)
    {
        if (response.Content is not { } content || content.Headers.ContentType?.MediaType != "text/event-stream") return;
        response.Content = new GuardedContent(content);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_tail is not null) return FromTail(buffer.Span);
        int read;
        try
        {
            read = await inner.ReadAsync(buffer, cancellationToken);
        }
        catch (Exception e) when (e is IOException or HttpRequestException && !cancellationToken.IsCancellationRequested)
        {
            // End an event cut in the middle first, so the error is an event of its own.
            var end = _last == '\n' && _beforeLast == '\n' ? 0 : _last == '\n' ? 1 : 2;
            _tail = [.. "\n\n"u8[..end], .. FailureEvent, .. "\n\n"u8];
            return FromTail(buffer.Span);
        }
        if (read > 0)
        {
            _beforeLast = read > 1 ? buffer.Span[read - 2] : _last;
            _last = buffer.Span[read - 1];
        }
        return read;
    }

    private int FromTail(Span<byte> buffer)
    {
        var n = Math.Min(buffer.Length, _tail!.Length - _tailAt);
        _tail.AsSpan(_tailAt, n).CopyTo(buffer);
        _tailAt += n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }

    private sealed class GuardedContent : HttpContent
    {
        private readonly HttpContent _inner;

        public GuardedContent(HttpContent inner)
        {
            _inner = inner;
            foreach (var header in inner.Headers) Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) =>
            new UpstreamStreamGuard(await _inner.ReadAsStreamAsync(cancellationToken));

        protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await using var guarded = await CreateContentReadStreamAsync(cancellationToken);
            await guarded.CopyToAsync(stream, cancellationToken);
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) _inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
