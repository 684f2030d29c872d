using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace TeeAspire.Attestation.Verifier;

/// <summary>
/// The Azure IMDS attested document: PKCS#7 SignedData over JSON naming the VM (vmId, subscription,
/// SKU), signed under metadata.azure.com. It proves identity (which VM), not freshness (no nonce of
/// ours) and not confidentiality (any Azure VM has one).
/// </summary>
public static class ImdsDocument
{
    public const string SignerName = "metadata.azure.com";

    public static IReadOnlyList<CheckResult> Verify(string base64Pkcs7, IReadOnlyCollection<X509Certificate2> roots, out JsonElement? content)
    {
        content = null;
        var results = new List<CheckResult>();
        var cms = new SignedCms();
        try
        {
            cms.Decode(Convert.FromBase64String(base64Pkcs7));
            cms.CheckSignature(verifySignatureOnly: true);
            results.Add(CheckResult.Pass("imds.signature", "the PKCS#7 signature verifies"));
        }
        catch (Exception e) when (e is CryptographicException or FormatException or InvalidOperationException or ArgumentException)
        {
            results.Add(CheckResult.Fail("imds.signature", "the attested document's signature does not verify: " + e.Message));
            return results;
        }
        if (cms.SignerInfos.Count != 1)
        {
            results.Add(CheckResult.Fail("imds.signer", $"{cms.SignerInfos.Count} signers; one expected"));
            return results;
        }
        var signer = cms.SignerInfos[0].Certificate;
        var name = signer?.GetNameInfo(X509NameType.DnsName, false);
        results.Add(signer is not null && (name == SignerName || name?.EndsWith("." + SignerName, StringComparison.Ordinal) == true)
            ? CheckResult.Pass("imds.signer", $"signed by {name}")
            : CheckResult.Fail("imds.signer", $"signed by '{name}', not {SignerName}"));
        if (signer is not null)
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            foreach (var c in cms.Certificates) chain.ChainPolicy.ExtraStore.Add(c);
            if (roots.Count > 0)
            {
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                foreach (var r in roots) chain.ChainPolicy.CustomTrustStore.Add(r);
            }
            results.Add(chain.Build(signer)
                ? CheckResult.Pass("imds.chain", "the signer chains to a trusted root")
                : CheckResult.Fail("imds.chain", "the signer does not chain to a trusted root: " + string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()))));
        }
        try
        {
            using var doc = JsonDocument.Parse(cms.ContentInfo.Content);
            content = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            results.Add(CheckResult.Fail("imds.content", "the signed content is not JSON: " + e.Message));
        }
        return results;
    }
}
