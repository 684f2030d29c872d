using System.Buffers.Binary;
using System.Security.Cryptography;

namespace TeeAspire.Attestation.Verifier.Sealing;

/// <summary>
/// The Encrypted HTTP Body Protocol (tinfoilsh/encrypted-http-body-protocol, SPEC.md): names,
/// the response key derivation (§4.4) and the chunk framing (§4.3), shared by client and server.
/// </summary>
public static class Ehbp
{
    /// <summary>Request header: lowercase hex of the HPKE encapsulated key.</summary>
    public const string EncapsulatedKeyHeader = "Ehbp-Encapsulated-Key";

    /// <summary>Response header: lowercase hex of the 32-byte response nonce.</summary>
    public const string ResponseNonceHeader = "Ehbp-Response-Nonce";

    /// <summary>Where a server publishes its key configuration.</summary>
    public const string KeysPath = "/.well-known/hpke-keys";

    /// <summary>Media type of the key configuration (RFC 9458).</summary>
    public const string KeysMediaType = "application/ohttp-keys";

    /// <summary>Problem type of a 422 key-configuration mismatch.</summary>
    public const string KeyConfigProblemType = "urn:ietf:params:ehbp:error:key-config";

    /// <summary>HPKE <c>info</c> of the request context.</summary>
    public static ReadOnlySpan<byte> RequestInfo => "ehbp request"u8;

    /// <summary>Exporter context of the response secret.</summary>
    public static ReadOnlySpan<byte> ExportLabel => "ehbp response"u8;

    /// <summary>Length of the exported secret and of the response AEAD key (Nk of AES-256-GCM).</summary>
    public const int SecretLength = 32;

    /// <summary>Length of the response nonce: max(Nn, Nk).</summary>
    public const int ResponseNonceLength = 32;

    /// <summary>Length of the chunk length prefix.</summary>
    public const int LengthPrefix = 4;

    /// <summary>AEAD tag length added to each chunk.</summary>
    public const int TagLength = 16;

    /// <summary>
    /// The response AEAD (§4.4.1): salt = enc ‖ response_nonce, prk = Extract(salt, secret),
    /// key = Expand(prk, "key", 32), nonce = Expand(prk, "nonce", 12). Plain HKDF, not labeled.
    /// </summary>
    public static ResponseAead DeriveResponseAead(ReadOnlySpan<byte> exportedSecret, ReadOnlySpan<byte> requestEnc, ReadOnlySpan<byte> responseNonce)
    {
        if (exportedSecret.Length != SecretLength || requestEnc.Length != Hpke.Npk || responseNonce.Length != ResponseNonceLength)
            throw new ArgumentException("EHBP response derivation needs a 32-byte secret, a 32-byte enc and a 32-byte nonce.");
        Span<byte> salt = stackalloc byte[Hpke.Npk + ResponseNonceLength];
        requestEnc.CopyTo(salt);
        responseNonce.CopyTo(salt[Hpke.Npk..]);
        Span<byte> prk = stackalloc byte[32];
        Sodium.HkdfExtract(salt, exportedSecret, prk);
        var key = new byte[32];
        var nonce = new byte[12];
        Sodium.HkdfExpand(prk, "key"u8, key);
        Sodium.HkdfExpand(prk, "nonce"u8, nonce);
        CryptographicOperations.ZeroMemory(prk);
        return new ResponseAead(key, nonce);
    }

    /// <summary>Bytes on the wire for a frame of <paramref name="plaintextLength"/> bytes of plaintext: prefix, ciphertext, tag.</summary>
    public static int FrameLength(int plaintextLength) => checked(LengthPrefix + plaintextLength + TagLength);

    /// <summary>Writes one frame: 4-byte big-endian length, then the ciphertext.</summary>
    public static byte[] Frame(ReadOnlySpan<byte> ciphertext)
    {
        var frame = new byte[LengthPrefix + ciphertext.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)ciphertext.Length);
        ciphertext.CopyTo(frame.AsSpan(LengthPrefix));
        return frame;
    }

    /// <summary>Seals a whole request body for <paramref name="serverPublicKey"/>: the encapsulated key, the framed body (one chunk) and the state that opens the answer.</summary>
    public static (byte[] Enc, byte[] SealedBody, EhbpRequestState State) SealRequest(ReadOnlySpan<byte> serverPublicKey, ReadOnlySpan<byte> body) =>
        SealRequest(Hpke.X25519Sha256Aes256Gcm.SetupBaseSender(serverPublicKey, RequestInfo), body);

    /// <summary>As <see cref="SealRequest(ReadOnlySpan{byte}, ReadOnlySpan{byte})"/>, with a context prepared ahead by <paramref name="pool"/> (made by <see cref="SenderPool"/>).</summary>
    public static (byte[] Enc, byte[] SealedBody, EhbpRequestState State) SealRequest(HpkeSenderPool pool, ReadOnlySpan<byte> serverPublicKey, ReadOnlySpan<byte> body)
    {
        ArgumentNullException.ThrowIfNull(pool);
        return SealRequest(pool.Take(serverPublicKey), body);
    }

    /// <summary>A pool of request contexts prepared ahead for <paramref name="serverPublicKey"/> (EHBP's suite and info).</summary>
    public static HpkeSenderPool SenderPool(ReadOnlySpan<byte> serverPublicKey, int capacity = 2) =>
        new(Hpke.X25519Sha256Aes256Gcm, serverPublicKey, RequestInfo, capacity);

    private static (byte[] Enc, byte[] SealedBody, EhbpRequestState State) SealRequest((byte[] Enc, HpkeContext Context) setup, ReadOnlySpan<byte> body)
    {
        var (enc, context) = setup;
        using (context)
        {
            var sealedBody = body.IsEmpty ? [] : new byte[FrameLength(body.Length)];
            if (!body.IsEmpty)
            {
                BinaryPrimitives.WriteUInt32BigEndian(sealedBody, (uint)(body.Length + TagLength));
                context.Seal([], body, sealedBody.AsSpan(LengthPrefix));
            }
            return (enc, sealedBody, new EhbpRequestState(context.Export(ExportLabel, SecretLength), enc));
        }
    }

    /// <summary>Lowercase hex, as the headers carry it.</summary>
    public static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);

    /// <summary>Parses a header's lowercase-or-uppercase hex of exactly <paramref name="length"/> bytes; null if it is anything else.</summary>
    public static byte[]? ParseHex(string? value, int length)
    {
        if (value is null || value.Length != 2 * length) return null;
        var bytes = new byte[length];
        return Convert.FromHexString(value, bytes, out _, out var written) == System.Buffers.OperationStatus.Done && written == length ? bytes : null;
    }
}

/// <summary>What a client keeps from a sealed request to open its answer (the spec's session recovery token).</summary>
public sealed record EhbpRequestState(byte[] ExportedSecret, byte[] RequestEnc)
{
    /// <summary>The response AEAD for the answer's <c>Ehbp-Response-Nonce</c>.</summary>
    public ResponseAead ResponseAead(ReadOnlySpan<byte> responseNonce) => Ehbp.DeriveResponseAead(ExportedSecret, RequestEnc, responseNonce);
}

/// <summary>AES-256-GCM over response chunks: chunk i uses nonce ⊕ i, empty AAD. Not thread-safe.</summary>
public sealed class ResponseAead(byte[] key, byte[] nonceBase) : IDisposable
{
    private readonly Aes256Gcm _gcm = new(key);
    private ulong _sequence;

    /// <summary>The derived key (exposed for known-answer tests).</summary>
    public ReadOnlySpan<byte> Key => key;

    /// <summary>The derived nonce base (exposed for known-answer tests).</summary>
    public ReadOnlySpan<byte> NonceBase => nonceBase;

    /// <summary>Seals the next chunk: ciphertext ‖ tag.</summary>
    public byte[] Seal(ReadOnlySpan<byte> plaintext)
    {
        var output = new byte[plaintext.Length + Ehbp.TagLength];
        Span<byte> nonce = stackalloc byte[12];
        Nonces.Xor(nonceBase, _sequence++, nonce);
        _gcm.Encrypt(nonce, plaintext, output.AsSpan(0, plaintext.Length), output.AsSpan(plaintext.Length), []);
        return output;
    }

    /// <summary>Opens the next chunk; null if it does not authenticate.</summary>
    public byte[]? Open(ReadOnlySpan<byte> ciphertext)
    {
        if (ciphertext.Length < Ehbp.TagLength) return null;
        var output = new byte[ciphertext.Length - Ehbp.TagLength];
        Span<byte> nonce = stackalloc byte[12];
        Nonces.Xor(nonceBase, _sequence, nonce);
        if (!_gcm.TryDecrypt(nonce, ciphertext[..^Ehbp.TagLength], ciphertext[^Ehbp.TagLength..], output, [])) return null;
        _sequence++;
        return output;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _gcm.Dispose();
        CryptographicOperations.ZeroMemory(key);
    }
}

/// <summary>A sealed body could not be opened: bad framing or a chunk that does not authenticate. Carries no crypto detail.</summary>
public sealed class EhbpException(string message, bool tooLong = false) : IOException(message)
{
    /// <summary>A frame announced more bytes than the reader allows (the body is over its size cap).</summary>
    public bool TooLong { get; } = tooLong;
}
