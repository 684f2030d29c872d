using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TeeAspire.Attestation.Verifier;

/// <summary>What a customer expects of the service: measurements, roots, and whether an insecure platform is acceptable.</summary>
public sealed class VerificationPolicy
{
    /// <summary>Expected sha256 PCR values (index → lowercase hex); PCRs not listed are not checked.</summary>
    [JsonPropertyName("pcrs")]
    public Dictionary<string, string> Pcrs { get; set; } = new();

    /// <summary>Accept <c>platform: none</c> (developer machines, CI, swtpm): the TPM's key is then not vouched for by hardware.</summary>
    [JsonPropertyName("allow_insecure_platform")]
    public bool AllowInsecurePlatform { get; set; }

    /// <summary>Expected signing-key fingerprint, to pin one deployment (optional).</summary>
    [JsonPropertyName("signing_key_fingerprint")]
    public string? SigningKeyFingerprint { get; set; }

    /// <summary>The release the measured launch must show (<see cref="AppMeasurement"/>); null: not checked.</summary>
    [JsonPropertyName("app")]
    public AppPolicy? App { get; set; }

    /// <summary>Intel SGX Root CA for TDX quotes (PEM). Default: the one shipped with this library's tests is not assumed; pass it.</summary>
    [JsonIgnore]
    public X509Certificate2? IntelRoot { get; set; }

    /// <summary>Intel PCS TCB info for the platform (<c>/tdx/certification/v4/tcb?fmspc=…</c> response), to report the TCB status.</summary>
    [JsonIgnore]
    public string? TdxTcbInfo { get; set; }

    /// <summary>Roots for the IMDS attested document's signer; empty: the system trust store.</summary>
    [JsonIgnore]
    public List<X509Certificate2> ImdsRoots { get; set; } = [];

    public static VerificationPolicy Load(string json) =>
        JsonSerializer.Deserialize<VerificationPolicy>(json) ?? throw new JsonException("empty policy");

    public string ToJson() => JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true });
}
