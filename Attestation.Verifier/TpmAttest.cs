using System.Security.Cryptography;

namespace TeeAspire.Attestation.Verifier;

/// <summary>A PCR bank and the PCR indexes selected in it.</summary>
public sealed record PcrSelection(ushort HashAlgorithm, IReadOnlyList<int> Pcrs);

/// <summary>
/// A parsed <c>TPMS_ATTEST</c> of type <c>TPM_ST_ATTEST_QUOTE</c> (TPM 2.0 Part 2, 10.12): what a
/// TPM quote signs.
/// </summary>
public sealed record TpmAttest(
    byte[] QualifiedSigner,
    byte[] ExtraData,
    ulong Clock,
    uint ResetCount,
    uint RestartCount,
    bool Safe,
    ulong FirmwareVersion,
    IReadOnlyList<PcrSelection> PcrSelections,
    byte[] PcrDigest)
{
    public const uint Magic = 0xff544347; // TPM_GENERATED_VALUE
    public const ushort QuoteType = 0x8018; // TPM_ST_ATTEST_QUOTE
    public const ushort Sha256 = 0x000b; // TPM_ALG_SHA256

    public static TpmAttest Parse(ReadOnlySpan<byte> message)
    {
        var r = new BigEndianReader(message);
        if (r.U32("magic") != Magic) throw new EvidenceFormatException("not a TPM-generated structure (magic)");
        if (r.U16("type") != QuoteType) throw new EvidenceFormatException("not a quote (type)");
        var signer = r.Sized("qualifiedSigner").ToArray();
        var extra = r.Sized("extraData").ToArray();
        var clock = r.U64("clock");
        var resets = r.U32("resetCount");
        var restarts = r.U32("restartCount");
        var safe = r.U8("safe") == 1;
        var firmware = r.U64("firmwareVersion");
        var count = r.U32("pcrSelect count");
        if (count > 16) throw new EvidenceFormatException("too many PCR banks");
        var selections = new List<PcrSelection>();
        for (var i = 0; i < count; i++)
        {
            var hash = r.U16("pcrSelect hash");
            var bitmap = r.Take(r.U8("sizeofSelect"), "pcrSelect");
            var pcrs = new List<int>();
            for (var b = 0; b < bitmap.Length * 8; b++)
                if ((bitmap[b / 8] & (1 << (b % 8))) != 0) pcrs.Add(b);
            selections.Add(new PcrSelection(hash, pcrs));
        }
        var digest = r.Sized("pcrDigest").ToArray();
        if (r.Remaining != 0) throw new EvidenceFormatException("trailing bytes after the quote");
        return new TpmAttest(signer, extra, clock, resets, restarts, safe, firmware, selections, digest);
    }

    /// <summary>The digest the quote's PCR selection must have: SHA-256 over the selected values in order.</summary>
    public static byte[] ComputePcrDigest(IReadOnlyList<PcrSelection> selections, IReadOnlyDictionary<int, byte[]> sha256Pcrs)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var selection in selections)
        {
            if (selection.HashAlgorithm != Sha256) throw new EvidenceFormatException("only the sha256 PCR bank is supported");
            foreach (var pcr in selection.Pcrs)
            {
                if (!sha256Pcrs.TryGetValue(pcr, out var value)) throw new EvidenceFormatException($"PCR {pcr} is selected but its value is missing");
                hash.AppendData(value);
            }
        }
        return hash.GetHashAndReset();
    }
}
