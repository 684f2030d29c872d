using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;

namespace TeeAspire.Attestation.Verifier;

public enum HclReportType
{
    Unknown = 0,
    Snp = 2,
    Tdx = 4,
}

/// <summary>
/// The Azure confidential VM's HCL report (vTPM NV index 0x01400001): a 32-byte header
/// (<c>HCLA</c>), the hardware report (TDX TD report or SEV-SNP report), and the IGVM request
/// data whose runtime-data JSON carries the vTPM attestation key (<c>HCLAkPub</c>) and the
/// <c>user-data</c> last written to NV 0x01400002. The hardware report's REPORTDATA[0:32] is
/// SHA-256 of that runtime data.
/// </summary>
public sealed class HclReport
{
    private const int HeaderSize = 32;
    private const int TdReportSize = 1024;
    private const int SnpReportSize = 1184;
    private const int RequestDataOffset = 1216;

    private HclReport(HclReportType type, byte[] hardwareReport, byte[] reportData, byte[] runtimeData)
    {
        Type = type;
        HardwareReport = hardwareReport;
        ReportData = reportData;
        RuntimeData = runtimeData;
    }

    public HclReportType Type { get; }

    /// <summary>The TD report (1024 bytes) or SNP report (1184 bytes).</summary>
    public byte[] HardwareReport { get; }

    /// <summary>The hardware report's 64-byte REPORTDATA.</summary>
    public byte[] ReportData { get; }

    /// <summary>The runtime-data JSON bytes, exactly as hashed.</summary>
    public byte[] RuntimeData { get; }

    public static HclReport Parse(ReadOnlySpan<byte> data)
    {
        if (data.Length < RequestDataOffset + 20) throw new EvidenceFormatException("HCL report: too short");
        if (!data[..4].SequenceEqual("HCLA"u8)) throw new EvidenceFormatException("HCL report: no HCLA signature");
        var type = (HclReportType)BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(RequestDataOffset + 8, 4));
        var hashType = BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(RequestDataOffset + 12, 4));
        var size = BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(RequestDataOffset + 16, 4));
        if (hashType != 1) throw new EvidenceFormatException($"HCL report: hash type {hashType} is not SHA-256");
        if (size > data.Length - (RequestDataOffset + 20)) throw new EvidenceFormatException("HCL report: runtime data runs past the end");
        var (hardware, reportData) = type switch
        {
            // TDREPORT: REPORTMACSTRUCT's REPORTDATA at offset 128
            HclReportType.Tdx => (data.Slice(HeaderSize, TdReportSize).ToArray(), data.Slice(HeaderSize + 128, 64).ToArray()),
            // ATTESTATION_REPORT: REPORT_DATA at offset 0x50
            HclReportType.Snp => (data.Slice(HeaderSize, SnpReportSize).ToArray(), data.Slice(HeaderSize + 0x50, 64).ToArray()),
            _ => throw new EvidenceFormatException($"HCL report: unknown report type {(uint)type}"),
        };
        return new HclReport(type, hardware, reportData, data.Slice(RequestDataOffset + 20, (int)size).ToArray());
    }

    /// <summary>Whether REPORTDATA[0:32] equals SHA-256 of the runtime data: the hardware vouches for it.</summary>
    public bool RuntimeDataIsBound => CryptographicOperations.FixedTimeEquals(SHA256.HashData(RuntimeData), ReportData.AsSpan(0, 32));

    /// <summary>The vTPM attestation key (<c>HCLAkPub</c>) as SubjectPublicKeyInfo DER.</summary>
    public byte[] AkPublicKeySpki()
    {
        using var doc = JsonDocument.Parse(RuntimeData);
        foreach (var key in doc.RootElement.GetProperty("keys").EnumerateArray())
        {
            if (key.GetProperty("kid").GetString() != "HCLAkPub") continue;
            using var rsa = RSA.Create(new RSAParameters
            {
                Modulus = Base64Url(key.GetProperty("n").GetString()!),
                Exponent = Base64Url(key.GetProperty("e").GetString()!),
            });
            return rsa.ExportSubjectPublicKeyInfo();
        }
        throw new EvidenceFormatException("HCL report: runtime data has no HCLAkPub");
    }

    /// <summary>The 64 bytes of <c>user-data</c> (NV 0x01400002 when the report was made).</summary>
    public byte[] UserData()
    {
        using var doc = JsonDocument.Parse(RuntimeData);
        return doc.RootElement.TryGetProperty("user-data", out var u) && u.GetString() is { } hex ? Convert.FromHexString(hex) : [];
    }

    private static byte[] Base64Url(string s)
    {
        var b = s.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(b + new string('=', (4 - b.Length % 4) % 4));
    }
}
