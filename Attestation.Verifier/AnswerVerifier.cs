using System.Security.Cryptography;
using System.Text;

namespace TeeAspire.Attestation.Verifier;

/// <summary>A completion's signature as served at <c>GET /v1/signature/{id}</c>.</summary>
public sealed record AnswerSignature(string Id, string Text, string Signature, string Algo, string SigningKeyFingerprint);

/// <summary>Checks that an answer came from the attested service: both hashes recomputed from the exact bytes, ES256 with the attested key.</summary>
public static class AnswerVerifier
{
    public static IReadOnlyList<CheckResult> Verify(AnswerSignature signature, ReadOnlySpan<byte> requestBytes, ReadOnlySpan<byte> responseBytes, byte[] signingKeySpki)
    {
        var expected = $"{signature.Id}:{Convert.ToHexStringLower(SHA256.HashData(requestBytes))}:{Convert.ToHexStringLower(SHA256.HashData(responseBytes))}";
        var results = new List<CheckResult>
        {
            signature.Text == expected
                ? CheckResult.Pass("answer.hashes", "the signed text names this id and the SHA-256 of these exact request and response bytes")
                : CheckResult.Fail("answer.hashes", "the signed text does not match these bytes (changed request, changed response, or another id)"),
            signature.SigningKeyFingerprint == Convert.ToHexStringLower(SHA256.HashData(signingKeySpki))
                ? CheckResult.Pass("answer.key", "signed by the attested key")
                : CheckResult.Fail("answer.key", "the signature names another key than the attested one"),
        };
        bool valid;
        try
        {
            using var key = ECDsa.Create();
            key.ImportSubjectPublicKeyInfo(signingKeySpki, out _);
            valid = key.VerifyData(Encoding.UTF8.GetBytes(expected), Convert.FromBase64String(signature.Signature), HashAlgorithmName.SHA256);
        }
        catch (Exception e) when (e is CryptographicException or FormatException)
        {
            valid = false;
        }
        results.Add(valid
            ? CheckResult.Pass("answer.signature", "ES256 signature verifies")
            : CheckResult.Fail("answer.signature", "the ES256 signature does not verify"));
        return results;
    }
}
