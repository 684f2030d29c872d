using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

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
    /// <param name="acceptedModels">the policy's models (<c>answer.models</c>, <c>name@sha256:hex</c>); null or empty: any model, reported</param>
    /// <remarks>
    /// The model is read from the response received — its <c>system_fingerprint</c>, which the worker
    /// sets to <c>name@sha256:digest</c> — and goes into the statement (v2), so the signature covers it;
    /// a response that names no model is checked against a v1 statement, which a policy with models refuses.
    /// </remarks>
    public static IReadOnlyList<CheckResult> Verify(KeySet keySet, string id, long created, ReadOnlySpan<byte> requestBytes, ReadOnlySpan<byte> responseBytes, string? nonceHex, AnswerSignature signature, IReadOnlyCollection<string>? acceptedModels = null)
    {
        ArgumentNullException.ThrowIfNull(keySet);
        ArgumentNullException.ThrowIfNull(signature);
        var results = new List<CheckResult>();
        string statement;
        var (model, modelError) = ModelOf(responseBytes);
        try
        {
            statement = AnswerStatement.Build(id, created, Convert.ToHexStringLower(SHA256.HashData(requestBytes)), Convert.ToHexStringLower(SHA256.HashData(responseBytes)), nonceHex, model);
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
            : CheckResult.Fail("answer.signature", "the ES256 signature does not verify over this request, response, id, created, model and nonce"));
        results.Add(ModelCheck(model, modelError, acceptedModels));
        return results;
    }

    private static CheckResult ModelCheck(ModelRef? model, string? error, IReadOnlyCollection<string>? accepted)
    {
        if (error is not null) return CheckResult.Fail("answer.model", error);
        var pinned = accepted is { Count: > 0 };
        if (model is null)
            return pinned
                ? CheckResult.Fail("answer.model", "the answer names no model (a v1 statement); the policy accepts only " + string.Join(", ", accepted!))
                : CheckResult.Pass("answer.model", "the answer names no model (a v1 statement); the policy pins no models");
        if (!pinned) return CheckResult.Pass("answer.model", $"answered by {model} (covered by the signature); the policy pins no models");
        return accepted!.Contains(model.ToString(), StringComparer.Ordinal)
            ? CheckResult.Pass("answer.model", $"answered by {model}, a model the policy accepts")
            : CheckResult.Fail("answer.model", $"answered by {model}, not a model the policy accepts");
    }

    /// <summary>
    /// The model a response names: the <c>system_fingerprint</c> of a <c>chat.completion</c>, or of
    /// the <c>chat.completion.chunk</c> events of a stream (all that carry one must agree). A value
    /// that is not <c>name@sha256:hex</c>, or a body that is not JSON/SSE, names no model. Never throws.
    /// </summary>
    public static (ModelRef? Model, string? Error) ModelOf(ReadOnlySpan<byte> response)
    {
        var text = Encoding.UTF8.GetString(response);
        var trimmed = text.TrimStart();
        if (trimmed.StartsWith('{')) return (FingerprintOf(trimmed), null);
        ModelRef? found = null;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (!line.StartsWith("data:", StringComparison.Ordinal)) continue;
            var data = line[5..].TrimStart();
            if (!data.StartsWith('{')) continue;
            var m = FingerprintOf(data);
            if (m is null) continue;
            if (found is not null && found != m) return (null, $"the stream's events name different models ({found}, {m})");
            found = m;
        }
        return (found, null);
    }

    private static ModelRef? FingerprintOf(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 64 });
            return doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("system_fingerprint", out var fp) && fp.ValueKind == JsonValueKind.String
                && ModelRef.TryParse(fp.GetString(), out var model) ? model : null;
        }
        catch (JsonException)
        {
            return null;
        }
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
