using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TeeAspire.Attestation.Verifier;

/// <summary>The purposes and algorithms a key in the attested key set can have (PROTOCOL.md, "Key set").</summary>
public static class KeyPurposes
{
    /// <summary>ECDSA P-256 key that signs answers; the public key is its DER SubjectPublicKeyInfo.</summary>
    public const string AnswerSigning = "answer-signing";

    /// <summary>HPKE key that opens sealed bodies (EHBP); the public key is the raw 32-byte X25519 key.</summary>
    public const string BodySealing = "body-sealing";

    /// <summary>Algorithm of <see cref="AnswerSigning"/> keys.</summary>
    public const string Es256 = "ES256";

    /// <summary>Algorithm of <see cref="BodySealing"/> keys: HPKE DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM.</summary>
    public const string HpkeX25519 = "HPKE-X25519-SHA256-AES256GCM";
}

/// <summary>One public key the service uses. Only <see cref="Purpose"/>, <see cref="Alg"/> and <see cref="PublicKey"/> are bound; the rest is informational.</summary>
public sealed record KeySetEntry(
    [property: JsonPropertyName("purpose")] string Purpose,
    [property: JsonPropertyName("alg")] string Alg,
    [property: JsonPropertyName("public_key")] byte[] PublicKey)
{
    /// <summary>Which service registered it (informational, not bound).</summary>
    [JsonPropertyName("service")]
    public string? Service { get; init; }

    /// <summary>lowercase hex SHA-256 of <see cref="PublicKey"/>.</summary>
    [JsonPropertyName("fingerprint")]
    public string Fingerprint => Convert.ToHexStringLower(SHA256.HashData(PublicKey));

    internal bool IsWellFormed => KeySet.IsToken(Purpose) && KeySet.IsToken(Alg) && PublicKey is { Length: > 0 and <= 4096 };

    internal string CanonicalLine => $"{Purpose} {Alg} {Convert.ToBase64String(PublicKey)}\n";
}

/// <summary>
/// Every public key the service uses, in one canonical byte form a browser can recompute:
/// <c>"tee-aspire/key-set/v1\n"</c> then one line per key, <c>purpose SP alg SP base64(public key) LF</c>,
/// lines sorted by ordinal byte order, duplicates removed. Its SHA-256 (<see cref="Digest"/>) is what
/// the evidence binds: TPM quote extraData = SHA-256(nonce ‖ digest), HCL user-data = digest ‖ 32 zero bytes.
/// </summary>
public sealed class KeySet
{
    /// <summary>The first line of the canonical form.</summary>
    public const string Header = "tee-aspire/key-set/v1\n";

    private KeySet(IReadOnlyList<KeySetEntry> keys, byte[] canonical)
    {
        Keys = keys;
        Canonical = canonical;
        Digest = SHA256.HashData(canonical);
    }

    /// <summary>The keys in canonical order.</summary>
    public IReadOnlyList<KeySetEntry> Keys { get; }

    /// <summary>The canonical bytes (UTF-8).</summary>
    public byte[] Canonical { get; }

    /// <summary>SHA-256 of <see cref="Canonical"/>.</summary>
    public byte[] Digest { get; }

    /// <summary>Builds the set; throws <see cref="EvidenceFormatException"/> for a malformed entry.</summary>
    public static KeySet Create(IEnumerable<KeySetEntry> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var ordered = new SortedDictionary<string, KeySetEntry>(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            if (!key.IsWellFormed) throw new EvidenceFormatException("a key-set entry has a malformed purpose, algorithm or public key");
            ordered.TryAdd(key.CanonicalLine, key);
        }
        var text = new StringBuilder(Header);
        foreach (var line in ordered.Keys) text.Append(line);
        return new KeySet([.. ordered.Values], Encoding.UTF8.GetBytes(text.ToString()));
    }

    /// <summary>Reads the report's <c>key_set</c> object (<c>{"version":1,"keys":[…]}</c>) and recomputes the digest; the report's own <c>digest</c> field is never trusted.</summary>
    public static KeySet FromJson(JsonElement keySet)
    {
        if (keySet.ValueKind != JsonValueKind.Object || !keySet.TryGetProperty("keys", out var keys) || keys.ValueKind != JsonValueKind.Array)
            throw new EvidenceFormatException("key_set must be an object with a keys array");
        if (!keySet.TryGetProperty("version", out var version) || version.ValueKind != JsonValueKind.Number || !version.TryGetInt32(out var v) || v != 1)
            throw new EvidenceFormatException("key_set.version must be 1");
        var entries = new List<KeySetEntry>();
        foreach (var key in keys.EnumerateArray())
        {
            if (key.ValueKind != JsonValueKind.Object) throw new EvidenceFormatException("a key-set entry is not an object");
            entries.Add(new KeySetEntry(Text(key, "purpose"), Text(key, "alg"), Base64(Text(key, "public_key"))));
        }
        return Create(entries);
    }

    /// <summary>The answer-signing key with this fingerprint, if the set holds one.</summary>
    public KeySetEntry? FindSigningKey(string fingerprint) =>
        Keys.FirstOrDefault(k => k.Purpose == KeyPurposes.AnswerSigning && k.Alg == KeyPurposes.Es256 && k.Fingerprint == fingerprint);

    /// <summary>The sealing key with this raw public key, if the set holds one.</summary>
    public KeySetEntry? FindSealingKey(ReadOnlySpan<byte> publicKey)
    {
        foreach (var k in Keys)
            if (k.Purpose == KeyPurposes.BodySealing && k.Alg == KeyPurposes.HpkeX25519 && publicKey.SequenceEqual(k.PublicKey)) return k;
        return null;
    }

    /// <summary>TPM quote extraData: SHA-256(nonce ‖ key-set digest). The boot report uses an empty nonce.</summary>
    public byte[] ExtraData(ReadOnlySpan<byte> nonce) => SHA256.HashData([.. nonce, .. Digest]);

    /// <summary>HCL user-data (vTPM NV 0x01400002, 64 bytes): the digest, then 32 zero bytes.</summary>
    public byte[] UserData()
    {
        var data = new byte[64];
        Digest.CopyTo(data, 0);
        return data;
    }

    internal static bool IsToken(string? s) =>
        !string.IsNullOrEmpty(s) && s.Length <= 64 && s.All(c => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '-' or '.' or '_');

    private static string Text(JsonElement o, string name) =>
        o.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String ? p.GetString()! : throw new EvidenceFormatException($"a key-set entry lacks {name}");

    private static byte[] Base64(string s)
    {
        var buffer = new byte[s.Length];
        return Convert.TryFromBase64String(s, buffer, out var n) && n > 0 ? buffer[..n] : throw new EvidenceFormatException("a key-set public_key is not base64");
    }
}
