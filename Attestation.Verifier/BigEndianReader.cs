using System.Buffers.Binary;

namespace TeeAspire.Attestation.Verifier;

/// <summary>Reads TPM structures (big-endian, size-prefixed) and fails with a clear reason on truncation.</summary>
internal ref struct BigEndianReader(ReadOnlySpan<byte> data)
{
    private readonly ReadOnlySpan<byte> _data = data;

    public int Position { get; private set; }

    public int Remaining => _data.Length - Position;

    public ReadOnlySpan<byte> Take(int count, string what)
    {
        if (count < 0 || count > Remaining) throw new EvidenceFormatException($"{what}: needs {count} bytes, {Remaining} left");
        var span = _data.Slice(Position, count);
        Position += count;
        return span;
    }

    public byte U8(string what) => Take(1, what)[0];
    public ushort U16(string what) => BinaryPrimitives.ReadUInt16BigEndian(Take(2, what));
    public uint U32(string what) => BinaryPrimitives.ReadUInt32BigEndian(Take(4, what));
    public ulong U64(string what) => BinaryPrimitives.ReadUInt64BigEndian(Take(8, what));

    /// <summary>A TPM2B: u16 size then that many bytes.</summary>
    public ReadOnlySpan<byte> Sized(string what) => Take(U16(what + " size"), what);
}

/// <summary>Evidence bytes that do not have the structure they claim.</summary>
public sealed class EvidenceFormatException(string message) : Exception(message);
