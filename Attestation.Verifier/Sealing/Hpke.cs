using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

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
    private X25519KeyPair(byte[] privateKey)
    {
        PrivateKey = privateKey;
        PublicKey = new byte[Hpke.Npk];
        X25519.PublicKey(privateKey, PublicKey);
    }

    /// <summary>The raw 32-byte private key. Keep it in memory only.</summary>
    public byte[] PrivateKey { get; }

    /// <summary>The raw 32-byte public key.</summary>
    public byte[] PublicKey { get; }

    /// <summary>A fresh key pair from the system's CSPRNG.</summary>
    public static X25519KeyPair Generate() => new(RandomNumberGenerator.GetBytes(Hpke.Npk));

    /// <summary>The key pair of a raw 32-byte private key.</summary>
    public static X25519KeyPair FromPrivateKey(ReadOnlySpan<byte> privateKey)
    {
        if (privateKey.Length != Hpke.Npk) throw new ArgumentException("An X25519 private key has 32 bytes.", nameof(privateKey));
        return new X25519KeyPair(privateKey.ToArray());
    }
}

/// <summary>
/// X25519 (RFC 7748) from libsodium — the library NSec ships and loads — called directly on raw
/// keys: NSec wraps every key and shared secret in guarded memory (an mmap and mprotects per
/// object), which cost more than the scalar multiplication itself on the sealed-request path,
/// while the raw keys were exported to managed memory anyway.
/// </summary>
internal static class X25519
{
    private const string Libsodium = "libsodium";

    static X25519()
    {
        // Idempotent and thread-safe; NSec calls it too. 0 = initialised now, 1 = already.
        if (sodium_init() < 0) throw new InvalidOperationException("libsodium failed to initialise.");
    }

    /// <summary>The public key of <paramref name="privateKey"/> (clamped as RFC 7748 says, by libsodium).</summary>
    public static void PublicKey(ReadOnlySpan<byte> privateKey, Span<byte> publicKey)
    {
        if (privateKey.Length != Hpke.Npk || publicKey.Length != Hpke.Npk) throw new ArgumentException("X25519 keys have 32 bytes.");
        if (crypto_scalarmult_curve25519_base(ref MemoryMarshal.GetReference(publicKey), in MemoryMarshal.GetReference(privateKey)) != 0)
            throw new HpkeException("the private key gives no public key");
    }

    /// <summary>
    /// The shared secret of <paramref name="privateKey"/> and <paramref name="publicKey"/>; false when it
    /// is all zero (a small-order public key), which RFC 9180 §7.1.4 requires to refuse. libsodium refuses
    /// it too (and a set of small-order points); the zero check here holds whatever the library does.
    /// </summary>
    public static bool TryAgree(ReadOnlySpan<byte> privateKey, ReadOnlySpan<byte> publicKey, Span<byte> shared)
    {
        if (privateKey.Length != Hpke.Npk || publicKey.Length != Hpke.Npk || shared.Length != Hpke.Npk) throw new ArgumentException("X25519 keys have 32 bytes.");
        var ok = crypto_scalarmult_curve25519(ref MemoryMarshal.GetReference(shared), in MemoryMarshal.GetReference(privateKey), in MemoryMarshal.GetReference(publicKey)) == 0;
        return ok && shared.IndexOfAnyExcept((byte)0) >= 0;
    }

    [DllImport(Libsodium, CallingConvention = CallingConvention.Cdecl)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int sodium_init();

    [DllImport(Libsodium, CallingConvention = CallingConvention.Cdecl)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int crypto_scalarmult_curve25519_base(ref byte q, in byte n);

    [DllImport(Libsodium, CallingConvention = CallingConvention.Cdecl)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int crypto_scalarmult_curve25519(ref byte q, in byte n, in byte p);
}

/// <summary>
/// HPKE (RFC 9180) base mode with DHKEM(X25519, HKDF-SHA256) and HKDF-SHA256: the labeled
/// extract/expand, the KEM, the key schedule and the context. X25519 comes from libsodium (raw keys,
/// rejects the all-zero shared secret; about five times faster than BouncyCastle's managed code,
/// which the sealed-request latency showed); HKDF-SHA256 and AES-256-GCM from libsodium too (see
/// <see cref="Sodium"/>), AES-128-GCM and ChaCha20-Poly1305 from .NET. Intermediate secrets live on
/// the stack and are zeroed after use; a context wipes its secrets when disposed.
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
    // The key schedule context: mode ‖ psk_id_hash ‖ info_hash.
    private const int ContextLength = 1 + 2 * Nh;
    // Longest labeled input kept on the stack; longer ones (a long info or exporter context) are rented.
    private const int StackLimit = 256;
    private static ReadOnlySpan<byte> Version => "HPKE-v1"u8;
    private static ReadOnlySpan<byte> KemSuiteId => [(byte)'K', (byte)'E', (byte)'M', 0x00, 0x20];

    private readonly byte[] _suiteId;
    // The key schedule context of the last info seen: a function of public constants only, the same
    // for every EHBP request, so computed once instead of two HKDF extracts per setup.
    private volatile ScheduleContext? _lastContext;

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
    public (byte[] Enc, HpkeContext Context) SetupBaseSender(ReadOnlySpan<byte> recipientPublicKey, ReadOnlySpan<byte> info)
    {
        Span<byte> ephemeral = stackalloc byte[Npk];
        RandomNumberGenerator.Fill(ephemeral);
        try
        {
            return SetupBaseSender(recipientPublicKey, info, ephemeral);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(ephemeral);
        }
    }

    /// <summary>SetupBaseS with a given ephemeral key pair (known-answer tests only: never reuse an ephemeral key).</summary>
    public (byte[] Enc, HpkeContext Context) SetupBaseSender(ReadOnlySpan<byte> recipientPublicKey, ReadOnlySpan<byte> info, X25519KeyPair ephemeral)
    {
        ArgumentNullException.ThrowIfNull(ephemeral);
        return SetupBaseSender(recipientPublicKey, info, ephemeral.PrivateKey);
    }

    private (byte[] Enc, HpkeContext Context) SetupBaseSender(ReadOnlySpan<byte> recipientPublicKey, ReadOnlySpan<byte> info, ReadOnlySpan<byte> ephemeralPrivateKey)
    {
        if (recipientPublicKey.Length != Npk) throw new HpkeException("the recipient public key is not 32 bytes");
        var enc = new byte[Npk];
        X25519.PublicKey(ephemeralPrivateKey, enc);
        return (enc, Setup(ephemeralPrivateKey, recipientPublicKey, enc, recipientPublicKey, info));
    }

    /// <summary>SetupBaseR: the recipient's context for an encapsulated key. Throws <see cref="HpkeException"/> on a bad <paramref name="enc"/>.</summary>
    public HpkeContext SetupBaseReceiver(ReadOnlySpan<byte> enc, X25519KeyPair recipient, ReadOnlySpan<byte> info)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        if (enc.Length != Npk) throw new HpkeException("the encapsulated key is not 32 bytes");
        return Setup(recipient.PrivateKey, enc, enc, recipient.PublicKey, info);
    }

    /// <summary>DeriveKeyPair (RFC 9180 §7.1.3) for X25519.</summary>
    public static X25519KeyPair DeriveKeyPair(ReadOnlySpan<byte> ikm)
    {
        Span<byte> prk = stackalloc byte[Nh];
        Span<byte> sk = stackalloc byte[Npk];
        LabeledExtract(KemSuiteId, [], "dkp_prk"u8, ikm, prk);
        LabeledExpand(KemSuiteId, prk, "sk"u8, [], sk);
        var pair = X25519KeyPair.FromPrivateKey(sk);
        CryptographicOperations.ZeroMemory(prk);
        CryptographicOperations.ZeroMemory(sk);
        return pair;
    }

    /// <summary>Encap/Decap's DH and ExtractAndExpand (kem_context = enc ‖ pkR), then the key schedule.</summary>
    private HpkeContext Setup(ReadOnlySpan<byte> ownPrivateKey, ReadOnlySpan<byte> otherPublicKey, ReadOnlySpan<byte> enc, ReadOnlySpan<byte> recipientPublicKey, ReadOnlySpan<byte> info)
    {
        Span<byte> dh = stackalloc byte[Npk];
        Span<byte> prk = stackalloc byte[Nh];
        Span<byte> sharedSecret = stackalloc byte[Nsecret];
        Span<byte> kemContext = stackalloc byte[2 * Npk];
        try
        {
            if (!X25519.TryAgree(ownPrivateKey, otherPublicKey, dh)) throw new HpkeException("the Diffie-Hellman output is zero");
            enc.CopyTo(kemContext);
            recipientPublicKey.CopyTo(kemContext[Npk..]);
            LabeledExtract(KemSuiteId, [], "eae_prk"u8, dh, prk);
            LabeledExpand(KemSuiteId, prk, "shared_secret"u8, kemContext, sharedSecret);
            return KeySchedule(sharedSecret, info);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dh);
            CryptographicOperations.ZeroMemory(prk);
            CryptographicOperations.ZeroMemory(sharedSecret);
        }
    }

    private HpkeContext KeySchedule(ReadOnlySpan<byte> sharedSecret, ReadOnlySpan<byte> info)
    {
        var context = ScheduleContextFor(info);
        Span<byte> secret = stackalloc byte[Nh];
        try
        {
            LabeledExtract(_suiteId, sharedSecret, "secret"u8, [], secret);
            var key = new byte[Nk];
            var baseNonce = new byte[Nn];
            var exporterSecret = new byte[Nh];
            LabeledExpand(_suiteId, secret, "key"u8, context, key);
            LabeledExpand(_suiteId, secret, "base_nonce"u8, context, baseNonce);
            LabeledExpand(_suiteId, secret, "exp"u8, context, exporterSecret);
            return new HpkeContext(this, key, baseNonce, exporterSecret);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
        }
    }

    /// <summary>mode_base ‖ LabeledExtract("", "psk_id_hash", "") ‖ LabeledExtract("", "info_hash", info).</summary>
    private byte[] ScheduleContextFor(ReadOnlySpan<byte> info)
    {
        if (_lastContext is { } last && info.SequenceEqual(last.Info)) return last.Context;
        const byte modeBase = 0x00;
        var context = new byte[ContextLength];
        context[0] = modeBase;
        LabeledExtract(_suiteId, [], "psk_id_hash"u8, [], context.AsSpan(1, Nh));
        LabeledExtract(_suiteId, [], "info_hash"u8, info, context.AsSpan(1 + Nh, Nh));
        _lastContext = new ScheduleContext(info.ToArray(), context);
        return context;
    }

    private sealed record ScheduleContext(byte[] Info, byte[] Context);

    internal void Expand(ReadOnlySpan<byte> prk, ReadOnlySpan<byte> label, ReadOnlySpan<byte> info, Span<byte> output) =>
        LabeledExpand(_suiteId, prk, label, info, output);

    private static void LabeledExtract(ReadOnlySpan<byte> suiteId, ReadOnlySpan<byte> salt, ReadOnlySpan<byte> label, ReadOnlySpan<byte> ikm, Span<byte> prk)
    {
        var length = Version.Length + suiteId.Length + label.Length + ikm.Length;
        byte[]? rented = null;
        var labeled = length <= StackLimit ? stackalloc byte[StackLimit] : (rented = ArrayPool<byte>.Shared.Rent(length));
        labeled = labeled[..length];
        try
        {
            Version.CopyTo(labeled);
            suiteId.CopyTo(labeled[Version.Length..]);
            label.CopyTo(labeled[(Version.Length + suiteId.Length)..]);
            ikm.CopyTo(labeled[(Version.Length + suiteId.Length + label.Length)..]);
            Sodium.HkdfExtract(salt, labeled, prk);
        }
        finally
        {
            // The labeled input carries the DH output or the shared secret.
            CryptographicOperations.ZeroMemory(labeled);
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static void LabeledExpand(ReadOnlySpan<byte> suiteId, ReadOnlySpan<byte> prk, ReadOnlySpan<byte> label, ReadOnlySpan<byte> info, Span<byte> output)
    {
        var length = 2 + Version.Length + suiteId.Length + label.Length + info.Length;
        byte[]? rented = null;
        var labeled = length <= StackLimit ? stackalloc byte[StackLimit] : (rented = ArrayPool<byte>.Shared.Rent(length));
        labeled = labeled[..length];
        try
        {
            BinaryPrimitives.WriteUInt16BigEndian(labeled, checked((ushort)output.Length));
            Version.CopyTo(labeled[2..]);
            suiteId.CopyTo(labeled[(2 + Version.Length)..]);
            label.CopyTo(labeled[(2 + Version.Length + suiteId.Length)..]);
            info.CopyTo(labeled[(2 + Version.Length + suiteId.Length + label.Length)..]);
            Sodium.HkdfExpand(prk, labeled, output);
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
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
        _aead = suite.Aead switch
        {
            HpkeAead.Aes256Gcm => new Aes256Gcm(key),
            HpkeAead.ChaCha20Poly1305 => new ChaCha20Poly1305(key),
            _ => new AesGcm(key, 16),
        };
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
        Seal(aad, plaintext, output);
        return output;
    }

    /// <summary>Encrypts the next message into <paramref name="destination"/>: exactly the plaintext's length plus 16 bytes.</summary>
    public void Seal(ReadOnlySpan<byte> aad, ReadOnlySpan<byte> plaintext, Span<byte> destination)
    {
        if (destination.Length != plaintext.Length + 16) throw new ArgumentException("The destination holds exactly the ciphertext and its 16-byte tag.", nameof(destination));
        Span<byte> nonce = stackalloc byte[12];
        NextNonce(nonce);
        var body = destination[..plaintext.Length];
        var tag = destination[plaintext.Length..];
        switch (_aead)
        {
            case Aes256Gcm gcm256: gcm256.Encrypt(nonce, plaintext, body, tag, aad); break;
            case AesGcm gcm: gcm.Encrypt(nonce, plaintext, body, tag, aad); break;
            default: ((ChaCha20Poly1305)_aead).Encrypt(nonce, plaintext, body, tag, aad); break;
        }
        _sequence++;
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
            switch (_aead)
            {
                case Aes256Gcm gcm256:
                    if (!gcm256.TryDecrypt(nonce, body, tag, output, aad)) return null;
                    break;
                case AesGcm gcm: gcm.Decrypt(nonce, body, tag, output, aad); break;
                default: ((ChaCha20Poly1305)_aead).Decrypt(nonce, body, tag, output, aad); break;
            }
        }
        catch (AuthenticationTagMismatchException)
        {
            return null;
        }
        _sequence++;
        return output;
    }

    /// <summary>Export (RFC 9180 §5.3): a secret of <paramref name="length"/> bytes bound to this context and <paramref name="exporterContext"/>.</summary>
    public byte[] Export(ReadOnlySpan<byte> exporterContext, int length)
    {
        var output = new byte[length];
        _suite.Expand(_exporterSecret, "sec"u8, exporterContext, output);
        return output;
    }

    /// <summary>Export with a UTF-8 context string.</summary>
    public byte[] Export(string exporterContext, int length) => Export(Encoding.UTF8.GetBytes(exporterContext), length);

    private void NextNonce(Span<byte> nonce)
    {
        if (_sequence == ulong.MaxValue) throw new HpkeException("the message sequence is exhausted");
        Sealing.Nonces.Xor(_baseNonce, _sequence, nonce);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _aead.Dispose();
        CryptographicOperations.ZeroMemory(Key);
        CryptographicOperations.ZeroMemory(_baseNonce);
        CryptographicOperations.ZeroMemory(_exporterSecret);
    }
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
