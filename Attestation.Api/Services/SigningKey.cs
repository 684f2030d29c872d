using System.Security.Cryptography;
using System.Text;

namespace Attestation.Api.Services;

/// <summary>
/// The response-signing key: ECDSA P-256, made when the process starts and never exported
/// (only its public SPKI leaves). Signatures are IEEE P1363 (r‖s), the form WebCrypto verifies.
/// </summary>
public sealed class SigningKey : IDisposable
{
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public SigningKey()
    {
        Spki = _key.ExportSubjectPublicKeyInfo();
        Fingerprint = Convert.ToHexStringLower(SHA256.HashData(Spki));
    }

    public const string Algorithm = "ES256";
    public const string SignatureAlgorithm = "ecdsa-p256-sha256";

    public byte[] Spki { get; }

    /// <summary>lowercase hex SHA-256 of the SPKI.</summary>
    public string Fingerprint { get; }

    public string Sign(string text) =>
        Convert.ToBase64String(_key.SignData(Encoding.UTF8.GetBytes(text), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));

    public void Dispose() => _key.Dispose();
}
