using System.Text.Json;

namespace TeeAspire.Attestation.Verifier;

/// <summary>
/// Intel PCS collateral for one TDX platform, kept as the exact text and bytes PCS served (the
/// signatures cover those exact bytes). Format on disk: tests/vectors/README.md "A collateral bundle".
/// </summary>
/// <param name="TcbInfo">the body of <c>/tdx/certification/v4/tcb?fmspc=</c>, verbatim</param>
/// <param name="TcbInfoIssuerChain">PEM of the <c>TCB-Info-Issuer-Chain</c> header (TCB Signing → root)</param>
/// <param name="QeIdentity">the body of <c>/tdx/certification/v4/qe/identity</c>, verbatim</param>
/// <param name="QeIdentityIssuerChain">PEM of the <c>SGX-Enclave-Identity-Issuer-Chain</c> header</param>
/// <param name="PckCrl">DER of the PCK CRL (<c>/pckcrl?ca=platform|processor</c>)</param>
/// <param name="PckCrlIssuerChain">PEM of the <c>SGX-PCK-CRL-Issuer-Chain</c> header (PCK CA → root)</param>
/// <param name="RootCrl">DER of the Intel SGX Root CA CRL</param>
public sealed record DcapCollateral(
    string TcbInfo,
    string TcbInfoIssuerChain,
    string QeIdentity,
    string QeIdentityIssuerChain,
    byte[] PckCrl,
    string PckCrlIssuerChain,
    byte[] RootCrl)
{
    /// <summary>Reads a bundle (JSON with the fields named in tests/vectors/README.md).</summary>
    /// <exception cref="EvidenceFormatException">the bundle is malformed</exception>
    public static DcapCollateral FromBundleJson(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var r = doc.RootElement;
            string S(string name) => r.GetProperty(name).GetString() ?? throw new EvidenceFormatException($"collateral bundle: {name} is null");
            return new DcapCollateral(
                S("tcb_info"), S("tcb_info_issuer_chain"), S("qe_identity"), S("qe_identity_issuer_chain"),
                Convert.FromBase64String(S("pck_crl")), S("pck_crl_issuer_chain"), Convert.FromBase64String(S("root_crl")));
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new EvidenceFormatException("collateral bundle: " + e.Message);
        }
    }

    /// <summary>Reads a bundle file.</summary>
    public static DcapCollateral FromBundleFile(string path) => FromBundleJson(File.ReadAllText(path));

    /// <summary>The bundle JSON (tests/vectors/README.md "A collateral bundle").</summary>
    public string ToBundleJson() => JsonSerializer.Serialize(new Dictionary<string, string>
    {
        ["tcb_info"] = TcbInfo,
        ["tcb_info_issuer_chain"] = TcbInfoIssuerChain,
        ["qe_identity"] = QeIdentity,
        ["qe_identity_issuer_chain"] = QeIdentityIssuerChain,
        ["pck_crl"] = Convert.ToBase64String(PckCrl),
        ["pck_crl_issuer_chain"] = PckCrlIssuerChain,
        ["root_crl"] = Convert.ToBase64String(RootCrl),
    }, new JsonSerializerOptions { WriteIndented = true });
}
