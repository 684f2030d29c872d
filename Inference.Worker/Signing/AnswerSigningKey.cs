using System.Security.Cryptography;
using System.Text;

namespace Inference.Worker.Signing;

/// <summary>
/// This worker's answer-signing key: ECDSA P-256, made when the process starts, held in memory
/// only and never exported or written (only its public SPKI leaves, registered with
/// Attestation.Api for the attested key set). Signatures are IEEE P1363 (r‖s), the form WebCrypto verifies.
/// </summary>
public sealed class AnswerSigningKey : IDisposable
{
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public AnswerSigningKey()
    {
        Spki = _key.ExportSubjectPublicKeyInfo();
        Fingerprint = Convert.ToHexStringLower(SHA256.HashData(Spki));
    }

    /// <summary>DER SubjectPublicKeyInfo.</summary>
    public byte[] Spki { get; }

    /// <summary>lowercase hex SHA-256 of <see cref="Spki"/> (the key set's fingerprint).</summary>
    public string Fingerprint { get; }

    public string Sign(string text) =>
        Convert.ToBase64String(_key.SignData(Encoding.UTF8.GetBytes(text), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));

    public void Dispose() => _key.Dispose();
}
