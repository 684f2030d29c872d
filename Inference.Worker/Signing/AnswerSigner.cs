using TeeAspire.Attestation.Verifier;

namespace Inference.Worker.Signing;

/// <summary>One answer's signature: the statement signed, the ES256 signature (base64 P1363) and the key's fingerprint.</summary>
public sealed record SignedAnswer(string Text, string Signature, string KeyFingerprint);

/// <summary>
/// Signs each answer in-process with <see cref="AnswerSigningKey"/>: the statement is
/// <see cref="AnswerStatement.Build"/> over the completion id, the <c>created</c> the response
/// carries, the model that answered (v2), the hashes of the exact request and response bytes, and the client's optional nonce.
/// </summary>
public sealed class AnswerSigner(AnswerSigningKey key)
{
    public string KeyFingerprint => key.Fingerprint;

    /// <param name="model">the model that answered: a v2 statement names it; null (no digest known) signs v1</param>
    public SignedAnswer Sign(string id, long created, string requestSha256, string responseSha256, string? nonce, ModelRef? model)
    {
        var text = AnswerStatement.Build(id, created, requestSha256, responseSha256, nonce, model);
        return new SignedAnswer(text, key.Sign(text), key.Fingerprint);
    }
}
