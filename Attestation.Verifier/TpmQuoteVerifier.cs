using System.Security.Cryptography;

namespace TeeAspire.Attestation.Verifier;

/// <summary>Checks a TPM quote: its structure, its signature by the attestation key, its PCR digest and its extraData.</summary>
public static class TpmQuoteVerifier
{
    /// <summary>The quote's extraData for a nonce and a signing key: <c>SHA-256(nonce ‖ SPKI)</c>.</summary>
    public static byte[] ExpectedExtraData(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> signingKeySpki)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(nonce);
        hash.AppendData(signingKeySpki);
        return hash.GetHashAndReset();
    }

    /// <param name="message">TPMS_ATTEST bytes</param>
    /// <param name="signature">the raw signature: RSA (PKCS#1 v1.5 or PSS) or ECDSA (r‖s or DER)</param>
    /// <param name="akSpki">the attestation key, SubjectPublicKeyInfo DER</param>
    /// <param name="sha256Pcrs">PCR values the report claims</param>
    /// <param name="expectedExtraData">what extraData must be</param>
    public static IReadOnlyList<CheckResult> Verify(byte[] message, byte[] signature, byte[] akSpki, IReadOnlyDictionary<int, byte[]> sha256Pcrs, byte[] expectedExtraData)
    {
        var results = new List<CheckResult>();
        TpmAttest attest;
        try
        {
            attest = TpmAttest.Parse(message);
            results.Add(CheckResult.Pass("tpm_quote.structure", "TPMS_ATTEST of type quote, made by a TPM"));
        }
        catch (EvidenceFormatException e)
        {
            results.Add(CheckResult.Fail("tpm_quote.structure", e.Message));
            return results;
        }
        results.Add(VerifySignature(message, signature, akSpki)
            ? CheckResult.Pass("tpm_quote.signature", "signed by the attestation key")
            : CheckResult.Fail("tpm_quote.signature", "the signature does not verify with the attestation key"));
        try
        {
            var digest = TpmAttest.ComputePcrDigest(attest.PcrSelections, sha256Pcrs);
            results.Add(CryptographicOperations.FixedTimeEquals(digest, attest.PcrDigest)
                ? CheckResult.Pass("tpm_quote.pcr_digest", $"the reported PCRs {string.Join(",", attest.PcrSelections.SelectMany(s => s.Pcrs))} hash to the quoted digest")
                : CheckResult.Fail("tpm_quote.pcr_digest", "the reported PCR values do not match the quoted digest"));
        }
        catch (EvidenceFormatException e)
        {
            results.Add(CheckResult.Fail("tpm_quote.pcr_digest", e.Message));
        }
        results.Add(CryptographicOperations.FixedTimeEquals(attest.ExtraData, expectedExtraData)
            ? CheckResult.Pass("tpm_quote.extra_data", "extraData binds the nonce (and signing key)")
            : CheckResult.Fail("tpm_quote.extra_data", "extraData does not match: another nonce or another signing key"));
        return results;
    }

    /// <summary>Verifies a signature over <paramref name="message"/> (SHA-256) with an RSA or EC key.</summary>
    public static bool VerifySignature(byte[] message, byte[] signature, byte[] spki)
    {
        try
        {
            using var rsa = RSA.Create();
            rsa.ImportSubjectPublicKeyInfo(spki, out _);
            return rsa.VerifyData(message, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
                || rsa.VerifyData(message, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pss);
        }
        catch (CryptographicException)
        {
        }
        try
        {
            using var ec = ECDsa.Create();
            ec.ImportSubjectPublicKeyInfo(spki, out _);
            return ec.VerifyData(message, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)
                || ec.VerifyData(message, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}
