using TeeAspire.Attestation.Verifier.Sealing;

namespace Gateway.Api.Sealing;

/// <summary>Why a sealed body was refused while it was being read.</summary>
public enum SealedBodyFault { StaleKey, Malformed, TooLarge }

/// <summary>Thrown by <see cref="SealedRequestBody"/>; <see cref="SealedBodyRefusals"/> turns it into the answer.</summary>
public sealed class SealedBodyRefusedException(SealedBodyFault fault) : IOException("the sealed request body was refused: " + fault)
{
    public SealedBodyFault Fault { get; } = fault;
}

/// <summary>
/// The plaintext of a sealed request, opened frame by frame only when something reads it — which,
/// on <c>/v1</c>, is after the API key was checked (<c>ApiKeyFilter</c>): a request without a valid
/// key is answered before a byte of its body is read. A frame's plaintext is released only after
/// it authenticated. Faults throw <see cref="SealedBodyRefusedException"/>: a first frame that does
/// not open (a stale or foreign key) is <see cref="SealedBodyFault.StaleKey"/>, a frame longer than
/// the body cap allows <see cref="SealedBodyFault.TooLarge"/>, anything else malformed. The cap on
/// the opened whole is the reader's (<c>RequestBodies.ReadCappedAsync</c>: 413, sealed).
/// </summary>
public sealed class SealedRequestBody(Stream sealedBody, HpkeContext hpke, long maxRequestBytes) : Stream
{
    private readonly int _maxFrame = (int)Math.Min(maxRequestBytes + Ehbp.TagLength + 1, int.MaxValue - 64);
    private byte[] _chunk = [];
    private int _offset;
    private long _raw;
    private bool _ended;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (_offset == _chunk.Length)
        {
            if (_ended) return 0;
            byte[]? frame;
            try
            {
                frame = await EhbpFrames.ReadAsync(sealedBody, _maxFrame, cancellationToken);
            }
            catch (EhbpException e)
            {
                throw new SealedBodyRefusedException(e.TooLong ? SealedBodyFault.TooLarge : SealedBodyFault.Malformed);
            }
            if (frame is null)
            {
                _ended = true;
                return 0;
            }
            _raw += Ehbp.LengthPrefix + frame.Length;
            // Empty frames are legal; an endless run of them is not a body.
            if (_raw > 2 * maxRequestBytes + 65536) throw new SealedBodyRefusedException(SealedBodyFault.Malformed);
            if (frame.Length == 0) continue;
            _chunk = hpke.Open([], frame) ?? throw new SealedBodyRefusedException(hpke.Sequence == 0 ? SealedBodyFault.StaleKey : SealedBodyFault.Malformed);
            _offset = 0;
        }
        var n = Math.Min(buffer.Length, _chunk.Length - _offset);
        _chunk.AsMemory(_offset, n).CopyTo(buffer);
        _offset += n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // Kestrel forbids synchronous reads of the body; so does this.
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("synchronous reads of a sealed body");

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
