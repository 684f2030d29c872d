using System.Text.Json.Serialization;
using TeeAspire.Attestation.Verifier;

namespace Attestation.Api.Model;

/// <summary>
/// The attestation report (<c>GET /attestation</c>). The first six fields are the ones the old
/// Python service served and existing clients read; the rest is what a verifier checks.
/// </summary>
public sealed record AttestationReport(
    string Platform,
    bool TeeVerified,
    string? VmSize,
    ImdsDocumentEvidence? AzureAttestation,
    SortedDictionary<int, string>? TpmPcrSha256,
    IReadOnlyList<string> TeeDmesg,
    string? Nonce,
    bool Replayable,
    KeySetDocument KeySet,
    ReportEvidence Evidence,
    System.Text.Json.Nodes.JsonArray? AppEventLog,
    SortedDictionary<string, string> EvidenceAbsent,
    VmInfo? Vm,
    string IssuedAt,
    SoftwareInfo Software,
    string Note);

/// <summary>The key set as PROTOCOL.md shows it: version 1, the keys, and the digest the evidence binds.</summary>
public sealed record KeySetDocument(int Version, IReadOnlyList<KeySetEntry> Keys, string Digest)
{
    public static KeySetDocument From(KeySet set) => new(1, set.Keys, Convert.ToHexStringLower(set.Digest));
}

/// <summary>Evidence present in this report; absent evidence is listed with its reason in <c>evidence_absent</c>.</summary>
public sealed record ReportEvidence(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] TpmQuoteEvidence? TpmQuote,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? HclReport,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? TdQuote,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ImdsDocumentEvidence? ImdsAttestedDocument,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ConfigfsTsmEvidence? ConfigfsTsm);

/// <summary>A TPM2_Quote: the TPMS_ATTEST message and its signature (base64), the AK's SPKI, and the PCR values read with it.</summary>
public sealed record TpmQuoteEvidence(
    string Message,
    string Signature,
    string SignatureAlg,
    string AkPublic,
    string AkHandle,
    string ExtraData,
    TpmPcrBanks Pcrs);

public sealed record TpmPcrBanks(SortedDictionary<int, string> Sha256);

public sealed record ImdsDocumentEvidence(string Encoding, string Signature);

/// <summary>A quote straight from the TEE through configfs-tsm; report_data = SHA-512(nonce ‖ key-set digest).</summary>
public sealed record ConfigfsTsmEvidence(string Provider, string Outblob, string ReportData);

public sealed record VmInfo(string? VmId, string? SubscriptionId, string? Location);

public sealed record SoftwareInfo(string Service, string? Version, string Runtime, string Os);

/// <summary>The answer to <c>POST /internal/keys</c>.</summary>
public sealed record KeyRegistered(string Fingerprint, int LeaseSeconds, string KeySetDigest);

/// <summary><c>GET /internal/keys</c>: the set and who holds each lease.</summary>
public sealed record KeyLeases(KeySetDocument KeySet, IReadOnlyList<KeyLeaseView> Leases);

public sealed record KeyLeaseView(string Purpose, string Alg, string Fingerprint, string Service, string Instance, string ExpiresAt);

/// <summary><c>GET /v1/signature/{id}</c>.</summary>
public sealed record SignatureView(string Id, long Created, string Text, string Signature, string Algo, string SigningKeyFingerprint, string? Nonce);

/// <summary>The one serializer context of this service's documents (snake_case).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(AttestationReport))]
[JsonSerializable(typeof(KeyRegistered))]
[JsonSerializable(typeof(KeyLeases))]
[JsonSerializable(typeof(SignatureView))]
public sealed partial class ReportJsonContext : JsonSerializerContext;
