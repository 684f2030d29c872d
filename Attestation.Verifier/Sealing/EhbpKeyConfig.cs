using System.Buffers.Binary;

namespace TeeAspire.Attestation.Verifier.Sealing;

/// <summary>An HPKE symmetric suite of a key configuration.</summary>
public sealed record HpkeSymmetricSuite(ushort KdfId, ushort AeadId);

/// <summary>
/// One RFC 9458 §3 <c>key_config</c>: key id (1 byte), KEM id (2), the public key (Npk bytes),
/// then a 2-byte length and that many bytes of (KDF id, AEAD id) pairs. EHBP serves exactly one,
/// without the list's length prefix (SPEC.md §3, as the reference server and clients do).
/// </summary>
public sealed record EhbpKeyConfig(byte KeyId, ushort KemId, byte[] PublicKey, IReadOnlyList<HpkeSymmetricSuite> Suites)
{
    /// <summary>The configuration a server with <paramref name="publicKey"/> serves: key id 0, X25519, HKDF-SHA256 + AES-256-GCM.</summary>
    public static EhbpKeyConfig ForX25519(byte[] publicKey) =>
        new(0, Hpke.KemX25519HkdfSha256, publicKey, [new HpkeSymmetricSuite(Hpke.KdfHkdfSha256, (ushort)HpkeAead.Aes256Gcm)]);

    /// <summary>The wire bytes.</summary>
    public byte[] Encode()
    {
        var bytes = new byte[1 + 2 + PublicKey.Length + 2 + 4 * Suites.Count];
        bytes[0] = KeyId;
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(1), KemId);
        PublicKey.CopyTo(bytes, 3);
        var at = 3 + PublicKey.Length;
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(at), (ushort)(4 * Suites.Count));
        at += 2;
        foreach (var suite in Suites)
        {
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(at), suite.KdfId);
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(at + 2), suite.AeadId);
            at += 4;
        }
        return bytes;
    }

    /// <summary>
    /// Parses the first key configuration; fails (never throws) unless it is X25519 with an
    /// HKDF-SHA256 + AES-256-GCM suite — the only combination EHBP uses.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> bytes, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out EhbpKeyConfig? config, out string reason)
    {
        config = null;
        if (bytes.Length < 3) return Fail("the key configuration is truncated", out reason);
        var kem = BinaryPrimitives.ReadUInt16BigEndian(bytes[1..]);
        if (kem != Hpke.KemX25519HkdfSha256) return Fail($"the key configuration's KEM 0x{kem:x4} is not DHKEM(X25519, HKDF-SHA256)", out reason);
        if (bytes.Length < 3 + Hpke.Npk + 2) return Fail("the key configuration is truncated", out reason);
        var publicKey = bytes.Slice(3, Hpke.Npk).ToArray();
        var length = BinaryPrimitives.ReadUInt16BigEndian(bytes[(3 + Hpke.Npk)..]);
        var suitesBytes = bytes[(3 + Hpke.Npk + 2)..];
        if (length % 4 != 0 || length == 0 || suitesBytes.Length < length) return Fail("the key configuration's suites are malformed", out reason);
        var suites = new List<HpkeSymmetricSuite>();
        for (var i = 0; i < length; i += 4)
            suites.Add(new(BinaryPrimitives.ReadUInt16BigEndian(suitesBytes[i..]), BinaryPrimitives.ReadUInt16BigEndian(suitesBytes[(i + 2)..])));
        if (!suites.Contains(new HpkeSymmetricSuite(Hpke.KdfHkdfSha256, (ushort)HpkeAead.Aes256Gcm)))
            return Fail("the key configuration offers no HKDF-SHA256 + AES-256-GCM suite", out reason);
        config = new EhbpKeyConfig(bytes[0], kem, publicKey, suites);
        reason = "";
        return true;
    }

    private static bool Fail(string why, out string reason)
    {
        reason = why;
        return false;
    }
}
