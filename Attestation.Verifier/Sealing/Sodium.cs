using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace TeeAspire.Attestation.Verifier.Sealing;

/// <summary>
/// HKDF-SHA256 (RFC 5869) and AES-256-GCM from libsodium (loaded for X25519 already), called
/// directly. On the sealed-request path every HKDF step and AEAD key of .NET's classes is an
/// OpenSSL provider fetch, a context built from named parameters and freed again; with the caches
/// cold after a millisecond of other work that cost 3–5 times as much as libsodium's plain
/// functions (bench/sealed-notes.md, round 2). libsodium wipes its HMAC state and offers
/// AES-256-GCM only on CPUs with AES-NI and PCLMUL; elsewhere <see cref="Aes256Gcm"/> uses .NET's.
/// </summary>
internal static class Sodium
{
    private const string Libsodium = "libsodium";
    private const int PrkLength = 32;
    private static ReadOnlySpan<byte> ZeroSalt => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    static Sodium()
    {
        // Detects the CPU's features, which crypto_aead_aes256gcm_is_available reports; idempotent.
        if (sodium_init() < 0) throw new InvalidOperationException("libsodium failed to initialise.");
        HasAes256Gcm = crypto_aead_aes256gcm_is_available() == 1;
    }

    /// <summary>Whether libsodium's AES-256-GCM runs here (hardware AES).</summary>
    public static bool HasAes256Gcm { get; }

    /// <summary>HKDF-Extract: PRK = HMAC-SHA256(salt, ikm); an empty salt is 32 zero bytes, as RFC 5869 says.</summary>
    public static void HkdfExtract(ReadOnlySpan<byte> salt, ReadOnlySpan<byte> ikm, Span<byte> prk)
    {
        if (prk.Length != PrkLength) throw new ArgumentException("An HKDF-SHA256 PRK has 32 bytes.", nameof(prk));
        if (salt.IsEmpty) salt = ZeroSalt;
        Check(crypto_kdf_hkdf_sha256_extract(ref MemoryMarshal.GetReference(prk), in MemoryMarshal.GetReference(salt), (nuint)salt.Length,
            in MemoryMarshal.GetReference(ikm), (nuint)ikm.Length));
    }

    /// <summary>HKDF-Expand of <paramref name="prk"/> (32 bytes) to <paramref name="output"/> (at most 255 · 32 bytes).</summary>
    public static void HkdfExpand(ReadOnlySpan<byte> prk, ReadOnlySpan<byte> info, Span<byte> output)
    {
        if (prk.Length != PrkLength) throw new ArgumentException("An HKDF-SHA256 PRK has 32 bytes.", nameof(prk));
        if (output.Length > 255 * PrkLength) throw new ArgumentException("HKDF-SHA256 expands to at most 8160 bytes.", nameof(output));
        Check(crypto_kdf_hkdf_sha256_expand(ref MemoryMarshal.GetReference(output), (nuint)output.Length,
            in MemoryMarshal.GetReference(info), (nuint)info.Length, in MemoryMarshal.GetReference(prk)));
    }

    /// <summary>AES-256-GCM encryption with a 12-byte nonce and a 16-byte tag (only when <see cref="HasAes256Gcm"/>).</summary>
    public static void Aes256GcmEncrypt(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag, ReadOnlySpan<byte> aad)
    {
        CheckGcm(key, nonce, plaintext.Length, ciphertext.Length, tag.Length);
        Check(crypto_aead_aes256gcm_encrypt_detached(ref MemoryMarshal.GetReference(ciphertext), ref MemoryMarshal.GetReference(tag), IntPtr.Zero,
            in MemoryMarshal.GetReference(plaintext), (ulong)plaintext.Length, in MemoryMarshal.GetReference(aad), (ulong)aad.Length,
            IntPtr.Zero, in MemoryMarshal.GetReference(nonce), in MemoryMarshal.GetReference(key)));
    }

    /// <summary>AES-256-GCM decryption; false (and <paramref name="plaintext"/> wiped) when the tag does not verify.</summary>
    public static bool Aes256GcmDecrypt(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> aad)
    {
        CheckGcm(key, nonce, plaintext.Length, ciphertext.Length, tag.Length);
        var ok = crypto_aead_aes256gcm_decrypt_detached(ref MemoryMarshal.GetReference(plaintext), IntPtr.Zero,
            in MemoryMarshal.GetReference(ciphertext), (ulong)ciphertext.Length, in MemoryMarshal.GetReference(tag),
            in MemoryMarshal.GetReference(aad), (ulong)aad.Length, in MemoryMarshal.GetReference(nonce), in MemoryMarshal.GetReference(key)) == 0;
        if (!ok) CryptographicOperations.ZeroMemory(plaintext);
        return ok;
    }

    private static void CheckGcm(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, int plaintextLength, int ciphertextLength, int tagLength)
    {
        if (!HasAes256Gcm) throw new PlatformNotSupportedException("libsodium has no AES-256-GCM on this CPU.");
        if (key.Length != 32 || nonce.Length != 12 || tagLength != 16 || plaintextLength != ciphertextLength)
            throw new ArgumentException("AES-256-GCM takes a 32-byte key, a 12-byte nonce, a 16-byte tag and a ciphertext as long as the plaintext.");
    }

    private static void Check(int result)
    {
        if (result != 0) throw new CryptographicException("libsodium refused the operation.");
    }

    [DllImport(Libsodium, CallingConvention = CallingConvention.Cdecl)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int sodium_init();

    [DllImport(Libsodium, CallingConvention = CallingConvention.Cdecl)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int crypto_aead_aes256gcm_is_available();

    [DllImport(Libsodium, CallingConvention = CallingConvention.Cdecl)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int crypto_kdf_hkdf_sha256_extract(ref byte prk, in byte salt, nuint saltLength, in byte ikm, nuint ikmLength);

    [DllImport(Libsodium, CallingConvention = CallingConvention.Cdecl)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int crypto_kdf_hkdf_sha256_expand(ref byte output, nuint outputLength, in byte context, nuint contextLength, in byte prk);

    [DllImport(Libsodium, CallingConvention = CallingConvention.Cdecl)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int crypto_aead_aes256gcm_encrypt_detached(ref byte ciphertext, ref byte tag, IntPtr tagLength,
        in byte plaintext, ulong plaintextLength, in byte aad, ulong aadLength, IntPtr nsec, in byte nonce, in byte key);

    [DllImport(Libsodium, CallingConvention = CallingConvention.Cdecl)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int crypto_aead_aes256gcm_decrypt_detached(ref byte plaintext, IntPtr nsec,
        in byte ciphertext, ulong ciphertextLength, in byte tag, in byte aad, ulong aadLength, in byte nonce, in byte key);
}

/// <summary>
/// AES-256-GCM with a 16-byte tag under one key: libsodium's where the CPU has it (no per-key
/// context to build), else .NET's <see cref="AesGcm"/>. Dispose wipes the key. Not thread-safe.
/// </summary>
internal sealed class Aes256Gcm : IDisposable
{
    private readonly byte[]? _key;
    private readonly AesGcm? _fallback;
    private bool _disposed;

    public Aes256Gcm(ReadOnlySpan<byte> key) : this(key, Sodium.HasAes256Gcm)
    {
    }

    /// <summary>With <paramref name="libsodium"/> false, .NET's implementation (what a CPU without AES-NI gets; for tests).</summary>
    internal Aes256Gcm(ReadOnlySpan<byte> key, bool libsodium)
    {
        if (key.Length != 32) throw new ArgumentException("An AES-256-GCM key has 32 bytes.", nameof(key));
        if (libsodium) _key = key.ToArray();
        else _fallback = new AesGcm(key, 16);
    }

    public void Encrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag, ReadOnlySpan<byte> aad)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_key is not null) Sodium.Aes256GcmEncrypt(_key, nonce, plaintext, ciphertext, tag, aad);
        else _fallback!.Encrypt(nonce, plaintext, ciphertext, tag, aad);
    }

    /// <summary>False when the tag does not verify.</summary>
    public bool TryDecrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> aad)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_key is not null) return Sodium.Aes256GcmDecrypt(_key, nonce, ciphertext, tag, plaintext, aad);
        try
        {
            _fallback!.Decrypt(nonce, ciphertext, tag, plaintext, aad);
            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        _disposed = true;
        if (_key is not null) CryptographicOperations.ZeroMemory(_key);
        _fallback?.Dispose();
    }
}
