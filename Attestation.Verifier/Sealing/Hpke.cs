using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using NSec.Cryptography;
using ChaCha20Poly1305 = System.Security.Cryptography.ChaCha20Poly1305;

namespace TeeAspire.Attestation.Verifier.Sealing;

/// <summary>HPKE AEAD identifiers (RFC 9180 §7.3) this implementation supports.</summary>
public enum HpkeAead : ushort
{
    /// <summary>AES-128-GCM (0x0001).</summary>
    Aes128Gcm = 0x0001,

    /// <summary>AES-256-GCM (0x0002), the one EHBP and our key set use.</summary>
    Aes256Gcm = 0x0002,

    /// <summary>ChaCha20-Poly1305 (0x0003).</summary>
    ChaCha20Poly1305 = 0x0003,
}

/// <summary>An X25519 key pair: the raw 32-byte private scalar and public key (RFC 7748).</summary>
public sealed class X25519KeyPair
{
    private X25519KeyPair(Key key)
    {
        Key = key;
        PrivateKey = key.Export(KeyBlobFormat.RawPrivateKey);
        PublicKey = key.PublicKey.Export(KeyBlobFormat.RawPublicKey);
    }

    /// <summary>The libsodium key (NSec), imported once: agreement with it needs no re-import.</summary>
    internal Key Key { get; }

    /// <summary>The raw 32-byte private key. Keep it in memory only.</summary>
    public byte[] PrivateKey { get; }

    /// <summary>The raw 32-byte public key.</summary>
    public byte[] PublicKey { get; }

    /// <summary>A fresh key pair from the system's CSPRNG.</summary>
    public static X25519KeyPair Generate() =>
        new(Key.Create(KeyAgreementAlgorithm.X25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport }));

    /// <summary>The key pair of a raw 32-byte private key.</summary>
    public static X25519KeyPair FromPrivateKey(ReadOnlySpan<byte> privateKey)
    {
        if (privateKey.Length != Hpke.Npk) throw new ArgumentException("An X25519 private key has 32 bytes.", nameof(privateKey));
        return new X25519KeyPair(Key.Import(KeyAgreementAlgorithm.X25519, privateKey, KeyBlobFormat.RawPrivateKey, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport }));
    }
}

/// <summary>
/// HPKE (RFC 9180) base mode with DHKEM(X25519, HKDF-SHA256) and HKDF-SHA256: the labeled
/// extract/expand, the KEM, the key schedule and the context. X25519 comes from libsodium through
/// NSec (raw keys, rejects the all-zero shared secret; about five times faster than BouncyCastle's
/// managed code, which the sealed-request latency showed); HKDF and the AEADs from .NET.
/// </summary>
public sealed class Hpke
{
    /// <summary>DHKEM(X25519, HKDF-SHA256).</summary>
    public const ushort KemX25519HkdfSha256 = 0x0020;

    /// <summary>HKDF-SHA256.</summary>
    public const ushort KdfHkdfSha256 = 0x0001;

    /// <summary>Length of an X25519 public key and of <c>enc</c>.</summary>
    public const int Npk = 32;

    private const int Nh = 32;
    private const int Nsecret = 32;
    private static readonly byte[] Version = "HPKE-v1"u8.ToArray();
    private static readonly byte[] KemSuiteId = [.. "KEM"u8, 0x00, 0x20];

    private readonly byte[] _suiteId;

    /// <summary>A suite with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and <paramref name="aead"/>.</summary>
    public Hpke(HpkeAead aead)
    {
        if (!Enum.IsDefined(aead)) throw new ArgumentOutOfRangeException(nameof(aead));
        Aead = aead;
        _suiteId = [.. "HPKE"u8, 0x00, 0x20, 0x00, 0x01, 0x00, (byte)aead];
    }

    /// <summary>The suite EHBP uses: X25519, HKDF-SHA256, AES-256-GCM.</summary>
    public static Hpke X25519Sha256Aes256Gcm { get; } = new(HpkeAead.Aes256Gcm);

    /// <summary>The AEAD of this suite.</summary>
    public HpkeAead Aead { get; }

    /// <summary>Key length of the AEAD.</summary>
    public int Nk => Aead == HpkeAead.Aes128Gcm ? 16 : 32;

    /// <summary>Nonce length of the AEAD.</summary>
    public int Nn => 12;

    /// <summary>SetupBaseS: a fresh ephemeral key, the encapsulated key and the sender's context.</summary>
    public (byte[] Enc, HpkeContext Context) SetupBaseSender(ReadOnlySpan<byte> recipientPublicKey, ReadOnlySpan<byte> info) =>
        SetupBaseSender(recipientPublicKey, info, X25519KeyPair.Generate());

    /// <summary>SetupBaseS with a given ephemeral key pair (known-answer tests only: never reuse an ephemeral key).</summary>
    public (byte[] Enc, HpkeContext Context) SetupBaseSender(ReadOnlySpan<byte> recipientPublicKey, ReadOnlySpan<byte> info, X25519KeyPair ephemeral)
    {
        ArgumentNullException.ThrowIfNull(ephemeral);
        if (recipientPublicKey.Length != Npk) throw new HpkeException("the recipient public key is not 32 bytes");
        var dh = Dh(ephemeral, recipientPublicKey);
        var enc = ephemeral.PublicKey;
        var sharedSecret = ExtractAndExpand(dh, [.. enc, .. recipientPublicKey]);
        return (enc, KeySchedule(sharedSecret, info));
    }

    /// <summary>SetupBaseR: the recipient's context for an encapsulated key. Throws <see cref="HpkeException"/> on a bad <paramref name="enc"/>.</summary>
    public HpkeContext SetupBaseReceiver(ReadOnlySpan<byte> enc, X25519KeyPair recipient, ReadOnlySpan<byte> info)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        if (enc.Length != Npk) throw new HpkeException("the encapsulated key is not 32 bytes");
        var dh = Dh(recipient, enc);
        var sharedSecret = ExtractAndExpand(dh, [.. enc, .. recipient.PublicKey]);
        return KeySchedule(sharedSecret, info);
    }

    /// <summary>DeriveKeyPair (RFC 9180 §7.1.3) for X25519.</summary>
    public static X25519KeyPair DeriveKeyPair(ReadOnlySpan<byte> ikm)
    {
        var prk = LabeledExtract(KemSuiteId, [], "dkp_prk"u8, ikm);
        return X25519KeyPair.FromPrivateKey(LabeledExpand(KemSuiteId, prk, "sk"u8, [], Npk));
    }

    private static byte[] Dh(X25519KeyPair own, ReadOnlySpan<byte> publicKey)
    {
        if (!NSec.Cryptography.PublicKey.TryImport(KeyAgreementAlgorithm.X25519, publicKey, KeyBlobFormat.RawPublicKey, out var other) || other is null)
            throw new HpkeException("the public key is not an X25519 key");
        SharedSecret? shared;
        try
        {
            shared = KeyAgreementAlgorithm.X25519.Agree(own.Key, other, new SharedSecretCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
        }
        catch (CryptographicException)
        {
            shared = null;
        }
        // A small-order public key gives the all-zero secret, which RFC 9180 §7.1.4 requires to reject
        // (libsodium refuses it; a zero output is refused here too, whatever the library does).
        if (shared is null) throw new HpkeException("the Diffie-Hellman output is zero");
        using (shared)
        {
            var secret = shared.Export(SharedSecretBlobFormat.RawSharedSecret);
            if (secret.AsSpan().IndexOfAnyExcept((byte)0) < 0) throw new HpkeException("the Diffie-Hellman output is zero");
            return secret;
        }
    }

    private static byte[] ExtractAndExpand(byte[] dh, ReadOnlySpan<byte> kemContext)
    {
        var prk = LabeledExtract(KemSuiteId, [], "eae_prk"u8, dh);
        return LabeledExpand(KemSuiteId, prk, "shared_secret"u8, kemContext, Nsecret);
    }

    private HpkeContext KeySchedule(byte[] sharedSecret, ReadOnlySpan<byte> info)
    {
        const byte modeBase = 0x00;
        var pskIdHash = LabeledExtract(_suiteId, [], "psk_id_hash"u8, []);
        var infoHash = LabeledExtract(_suiteId, [], "info_hash"u8, info);
        byte[] context = [modeBase, .. pskIdHash, .. infoHash];
        var secret = LabeledExtract(_suiteId, sharedSecret, "secret"u8, []);
        return new HpkeContext(
            this,
            LabeledExpand(_suiteId, secret, "key"u8, context, Nk),
            LabeledExpand(_suiteId, secret, "base_nonce"u8, context, Nn),
            LabeledExpand(_suiteId, secret, "exp"u8, context, Nh));
    }

    internal byte[] Expand(byte[] prk, ReadOnlySpan<byte> label, ReadOnlySpan<byte> info, int length) =>
        LabeledExpand(_suiteId, prk, label, info, length);

    private static byte[] LabeledExtract(ReadOnlySpan<byte> suiteId, ReadOnlySpan<byte> salt, ReadOnlySpan<byte> label, ReadOnlySpan<byte> ikm)
    {
        byte[] labeled = [.. Version, .. suiteId, .. label, .. ikm];
        var prk = new byte[Nh];
        HKDF.Extract(HashAlgorithmName.SHA256, labeled, salt, prk);
        return prk;
    }

    private static byte[] LabeledExpand(ReadOnlySpan<byte> suiteId, byte[] prk, ReadOnlySpan<byte> label, ReadOnlySpan<byte> info, int length)
    {
        Span<byte> l = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(l, checked((ushort)length));
        byte[] labeled = [.. l, .. Version, .. suiteId, .. label, .. info];
        var output = new byte[length];
        HKDF.Expand(HashAlgorithmName.SHA256, prk, output, labeled);
        return output;
    }
}

/// <summary>
/// An HPKE encryption context (RFC 9180 §5.2): seals or opens messages in sequence and exports
/// secrets. Not thread-safe: one context serves one message stream in one direction.
/// </summary>
public sealed class HpkeContext : IDisposable
{
    private readonly Hpke _suite;
    private readonly byte[] _baseNonce;
    private readonly byte[] _exporterSecret;
    private readonly IDisposable _aead;
    private ulong _sequence;

    internal HpkeContext(Hpke suite, byte[] key, byte[] baseNonce, byte[] exporterSecret)
    {
        _suite = suite;
        Key = key;
        _baseNonce = baseNonce;
        _exporterSecret = exporterSecret;
        _aead = suite.Aead == HpkeAead.ChaCha20Poly1305 ? new ChaCha20Poly1305(key) : new AesGcm(key, 16);
    }

    /// <summary>The AEAD key (exposed for known-answer tests).</summary>
    public byte[] Key { get; }

    /// <summary>The base nonce (exposed for known-answer tests).</summary>
    public ReadOnlySpan<byte> BaseNonce => _baseNonce;

    /// <summary>The exporter secret (exposed for known-answer tests).</summary>
    public ReadOnlySpan<byte> ExporterSecret => _exporterSecret;

    /// <summary>The sequence number of the next message.</summary>
    public ulong Sequence => _sequence;

    /// <summary>Encrypts the next message: ciphertext ‖ 16-byte tag.</summary>
    public byte[] Seal(ReadOnlySpan<byte> aad, ReadOnlySpan<byte> plaintext)
    {
        var output = new byte[plaintext.Length + 16];
        Span<byte> nonce = stackalloc byte[12];
        NextNonce(nonce);
        if (_aead is AesGcm gcm) gcm.Encrypt(nonce, plaintext, output.AsSpan(0, plaintext.Length), output.AsSpan(plaintext.Length), aad);
        else ((ChaCha20Poly1305)_aead).Encrypt(nonce, plaintext, output.AsSpan(0, plaintext.Length), output.AsSpan(plaintext.Length), aad);
        _sequence++;
        return output;
    }

    /// <summary>Decrypts the next message; null when it does not authenticate (the sequence then does not advance).</summary>
    public byte[]? Open(ReadOnlySpan<byte> aad, ReadOnlySpan<byte> ciphertext)
    {
        if (ciphertext.Length < 16) return null;
        var output = new byte[ciphertext.Length - 16];
        Span<byte> nonce = stackalloc byte[12];
        NextNonce(nonce);
        try
        {
            var body = ciphertext[..^16];
            var tag = ciphertext[^16..];
            if (_aead is AesGcm gcm) gcm.Decrypt(nonce, body, tag, output, aad);
            else ((ChaCha20Poly1305)_aead).Decrypt(nonce, body, tag, output, aad);
        }
        catch (AuthenticationTagMismatchException)
        {
            return null;
        }
        _sequence++;
        return output;
    }

    /// <summary>Export (RFC 9180 §5.3): a secret of <paramref name="length"/> bytes bound to this context and <paramref name="exporterContext"/>.</summary>
    public byte[] Export(ReadOnlySpan<byte> exporterContext, int length) =>
        _suite.Expand(_exporterSecret, "sec"u8, exporterContext, length);

    /// <summary>Export with a UTF-8 context string.</summary>
    public byte[] Export(string exporterContext, int length) => Export(Encoding.UTF8.GetBytes(exporterContext), length);

    private void NextNonce(Span<byte> nonce)
    {
        if (_sequence == ulong.MaxValue) throw new HpkeException("the message sequence is exhausted");
        Sealing.Nonces.Xor(_baseNonce, _sequence, nonce);
    }

    /// <inheritdoc />
    public void Dispose() => _aead.Dispose();
}

/// <summary>An HPKE operation failed on its input (bad encapsulated key, zero shared secret, exhausted sequence).</summary>
public sealed class HpkeException(string message) : CryptographicException(message);

internal static class Nonces
{
    /// <summary>base ⊕ I2OSP(sequence, 12): the sequence, big-endian, in the last 8 bytes.</summary>
    public static void Xor(ReadOnlySpan<byte> baseNonce, ulong sequence, Span<byte> nonce)
    {
        baseNonce.CopyTo(nonce);
        for (var i = 0; i < 8; i++) nonce[^(i + 1)] ^= (byte)(sequence >> (8 * i));
    }
}
