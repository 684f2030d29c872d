using System.Security.Cryptography;
using System.Text;

namespace TeeAspire.Attestation.Verifier;

/// <summary>A completion's signature as served at <c>GET /v1/signature/{id}</c>; the server's <c>text</c>, if any, is never read.</summary>
public sealed record AnswerSignature(string Id, string Signature, string SigningKeyFingerprint);

/// <summary>
/// Checks that an answer came from the attested service (PROTOCOL.md "Answer statement"): the
/// statement is rebuilt from the caller's own data — the id and <c>created</c> of the answer it
/// received, SHA-256 of the exact bytes it sent and received, its own nonce — and its ES256
/// signature must verify with the answer-signing key of the verified key set that the fingerprint names.
/// </summary>
public static class AnswerVerifier
{
    /// <param name="keySet">the key set of a VERIFIED report (<see cref="VerificationResult.KeySet"/>)</param>
    /// <param name="id">the completion id of the answer received</param>
    /// <param name="created">the answer's <c>created</c></param>
    /// <param name="requestBytes">the request body exactly as sent</param>
    /// <param name="responseBytes">every response body byte received</param>
    /// <param name="nonceHex">the <c>x-answer-nonce</c> the caller sent (lowercase hex), or null</param>
    /// <param name="signature">the served signature (base64 of r‖s) and the key fingerprint it names</param>
    public static IReadOnlyList<CheckResult> Verify(KeySet keySet, string id, long created, ReadOnlySpan<byte> requestBytes, ReadOnlySpan<byte> responseBytes, string? nonceHex, AnswerSignature signature)
    {
        ArgumentNullException.ThrowIfNull(keySet);
        ArgumentNullException.ThrowIfNull(signature);
        var results = new List<CheckResult>();
        string statement;
        try
        {
            statement = AnswerStatement.Build(id, created, Convert.ToHexStringLower(SHA256.HashData(requestBytes)), Convert.ToHexStringLower(SHA256.HashData(responseBytes)), nonceHex);
        }
        catch (ArgumentException e)
        {
            results.Add(CheckResult.Fail("answer.statement", "the answer's id, created or nonce cannot form a statement: " + e.Message));
            return results;
        }
        results.Add(signature.Id == id
            ? CheckResult.Pass("answer.statement", "statement rebuilt from our own request, response, id, created and nonce")
            : CheckResult.Fail("answer.statement", "the signature is served for another completion id"));
        var key = keySet.FindSigningKey(signature.SigningKeyFingerprint ?? "");
        results.Add(key is not null
            ? CheckResult.Pass("answer.key", $"the key {key.Fingerprint[..16]}… is an answer-signing key of the attested key set")
            : CheckResult.Fail("answer.key", "the signature names a key that is not in the attested key set"));
        results.Add(key is not null && Verifies(key.PublicKey, statement, signature.Signature)
            ? CheckResult.Pass("answer.signature", "the ES256 signature over the statement verifies")
            : CheckResult.Fail("answer.signature", "the ES256 signature does not verify over this request, response, id, created and nonce"));
        return results;
    }

    private static bool Verifies(byte[] spki, string statement, string signatureBase64)
    {
        var signature = Json.DecodeBase64(signatureBase64 ?? "");
        if (signature is not { Length: 64 }) return false;
        try
        {
            using var ec = ECDsa.Create();
            ec.ImportSubjectPublicKeyInfo(spki, out var read);
            return read == spki.Length && ec.KeySize == 256
                && ec.VerifyData(Encoding.UTF8.GetBytes(statement), signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}
