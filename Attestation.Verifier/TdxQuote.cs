using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace TeeAspire.Attestation.Verifier;

/// <summary>
/// An Intel TDX DCAP quote, version 4 or 5 (Intel TDX DCAP Quoting Library API, appendix A):
/// header, TD quote body, and ECDSA-P256 signature data carrying the attestation key, the
/// quoting enclave's report signed by the PCK key, and the PCK certificate chain.
/// </summary>
public sealed class TdxQuote
{
    private const int HeaderSize = 48;
    private const uint TdxTeeType = 0x81;

    private TdxQuote() { }

    public int Version { get; private init; }
    public byte[] SignedBytes { get; private init; } = [];
    public byte[] Body { get; private init; } = [];
    public byte[] Signature { get; private init; } = [];
    public byte[] AttestationKey { get; private init; } = [];
    public byte[] QeReport { get; private init; } = [];
    public byte[] QeReportSignature { get; private init; } = [];
    public byte[] QeAuthData { get; private init; } = [];
    public IReadOnlyList<X509Certificate2> PckChain { get; private init; } = [];

    /// <summary>The TD's MRTD (build-time measurement), body offset 136.</summary>
    public byte[] Mrtd => Body[136..184];

    /// <summary>RTMR0–3, body offsets 328–520.</summary>
    public byte[] Rtmrs => Body[328..520];

    /// <summary>REPORTDATA, body offset 520.</summary>
    public byte[] ReportData => Body[520..584];

    public static TdxQuote Parse(ReadOnlySpan<byte> q)
    {
        if (q.Length < HeaderSize + 4) throw new EvidenceFormatException("TDX quote: too short");
        var version = BinaryPrimitives.ReadUInt16LittleEndian(q);
        var keyType = BinaryPrimitives.ReadUInt16LittleEndian(q[2..]);
        var teeType = BinaryPrimitives.ReadUInt32LittleEndian(q[4..]);
        if (teeType != TdxTeeType) throw new EvidenceFormatException($"TDX quote: TEE type 0x{teeType:x} is not TDX");
        if (keyType != 2) throw new EvidenceFormatException($"TDX quote: attestation key type {keyType} is not ECDSA-P256");
        int bodyStart, bodySize;
        switch (version)
        {
            case 4:
                (bodyStart, bodySize) = (HeaderSize, 584);
                break;
            case 5:
                var type = BinaryPrimitives.ReadUInt16LittleEndian(q[HeaderSize..]);
                bodySize = (int)BinaryPrimitives.ReadUInt32LittleEndian(q[(HeaderSize + 2)..]);
                if (type is not (2 or 3) || bodySize is not (584 or 648)) throw new EvidenceFormatException($"TDX quote: body type {type} of {bodySize} bytes");
                bodyStart = HeaderSize + 6;
                break;
            default:
                throw new EvidenceFormatException($"TDX quote: version {version} is not 4 or 5");
        }
        var at = bodyStart + bodySize;
        Need(q, at + 4, "signature data length");
        var sigLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(q[at..]);
        at += 4;
        Need(q, at + sigLength, "signature data");
        var sig = q.Slice(at, sigLength);
        Need(sig, 128 + 6, "signature and attestation key");
        var certType = BinaryPrimitives.ReadUInt16LittleEndian(sig[128..]);
        var certSize = (int)BinaryPrimitives.ReadUInt32LittleEndian(sig[130..]);
        if (certType != 6) throw new EvidenceFormatException($"TDX quote: certification data type {certType} is not a QE report (6)");
        Need(sig, 134 + certSize, "QE report certification data");
        var qe = sig.Slice(134, certSize);
        Need(qe, 384 + 64 + 2, "QE report");
        var authSize = BinaryPrimitives.ReadUInt16LittleEndian(qe[448..]);
        Need(qe, 450 + authSize + 6, "QE auth data");
        var inner = qe[(450 + authSize)..];
        var innerType = BinaryPrimitives.ReadUInt16LittleEndian(inner);
        var innerSize = (int)BinaryPrimitives.ReadUInt32LittleEndian(inner[2..]);
        if (innerType != 5) throw new EvidenceFormatException($"TDX quote: certification data type {innerType} is not a PCK chain (5)");
        Need(inner, 6 + innerSize, "PCK chain");
        // No signature covers these lengths: the nested sizes must add up exactly to the signature
        // data, so none can be changed (e.g. to cut the chain short) without the quote being refused.
        // Bytes after the signature data are ignored (Intel's own test quote carries some).
        if (134 + certSize != sig.Length || 6 + innerSize != inner.Length)
            throw new EvidenceFormatException("TDX quote: the QE certification data and PCK chain sizes do not add up to the signature data's length");
        return new TdxQuote
        {
            Version = version,
            SignedBytes = q[..(bodyStart + bodySize)].ToArray(),
            Body = q.Slice(bodyStart, bodySize).ToArray(),
            Signature = sig[..64].ToArray(),
            AttestationKey = sig[64..128].ToArray(),
            QeReport = qe[..384].ToArray(),
            QeReportSignature = qe[384..448].ToArray(),
            QeAuthData = qe.Slice(450, authSize).ToArray(),
            PckChain = ParsePem(Encoding.ASCII.GetString(inner.Slice(6, innerSize)).TrimEnd('\0')),
        };
    }

    private static void Need(ReadOnlySpan<byte> span, int length, string what)
    {
        if (length > span.Length || length < 0) throw new EvidenceFormatException($"TDX quote: {what} runs past the end");
    }

    private static List<X509Certificate2> ParsePem(string pem)
    {
        var certs = new X509Certificate2Collection();
        certs.ImportFromPem(pem);
        if (certs.Count == 0) throw new EvidenceFormatException("TDX quote: no certificates in the PCK chain");
        return [.. certs];
    }
}
