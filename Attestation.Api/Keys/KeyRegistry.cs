using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using TeeAspire.Attestation.Verifier;

namespace Attestation.Api.Keys;

/// <summary>One registered key and who holds it until when.</summary>
public sealed record KeyLease(KeySetEntry Entry, string Instance, DateTimeOffset ExpiresAt);

/// <summary>
/// The services' public keys, as leases: a key stays in the set while its service renews the
/// registration (every 30 s by default) and leaves it <see cref="AttestationOptions.KeyLeaseTtl"/>
/// after the last renewal, so a dead replica's key drops out and a restarted Attestation.Api is
/// refilled by the next renewals. Held in memory only: the set is rebuilt from the services.
/// </summary>
public sealed class KeyRegistry(IOptions<AttestationOptions> options, TimeProvider time)
{
    private readonly Lock _lock = new();
    // Keyed by what the key set binds (purpose, alg, key) and the replica that registered it.
    private readonly Dictionary<(string Purpose, string Alg, string Key, string Instance), KeyLease> _leases = [];

    public TimeSpan Ttl => options.Value.KeyLeaseTtl;

    /// <summary>Adds or renews a lease; true if the set of keys changed (a new key).</summary>
    public bool Register(KeySetEntry entry, string instance)
    {
        var id = (entry.Purpose, entry.Alg, Convert.ToBase64String(entry.PublicKey), instance);
        lock (_lock)
        {
            var before = CurrentUnlocked();
            _leases[id] = new KeyLease(entry, instance, time.GetUtcNow() + Ttl);
            return !before.Digest.AsSpan().SequenceEqual(CurrentUnlocked().Digest);
        }
    }

    /// <summary>Drops expired leases; true if the set of keys changed.</summary>
    public bool Sweep()
    {
        lock (_lock)
        {
            var now = time.GetUtcNow();
            var expired = _leases.Where(l => l.Value.ExpiresAt <= now).Select(l => l.Key).ToList();
            if (expired.Count == 0) return false;
            var before = CurrentUnlocked();
            foreach (var id in expired) _leases.Remove(id);
            return !before.Digest.AsSpan().SequenceEqual(CurrentUnlocked().Digest);
        }
    }

    /// <summary>The key set of the live leases.</summary>
    public KeySet Current()
    {
        lock (_lock) return CurrentUnlocked();
    }

    public IReadOnlyList<KeyLease> Leases()
    {
        lock (_lock) return [.. _leases.Values.OrderBy(l => l.Entry.Purpose, StringComparer.Ordinal).ThenBy(l => l.Instance, StringComparer.Ordinal)];
    }

    private KeySet CurrentUnlocked() => KeySet.Create(_leases.Values.Select(l => l.Entry));

    /// <summary>
    /// Checks a registration: a known purpose with its algorithm, and a public key of that kind
    /// (a P-256 SubjectPublicKeyInfo for answer signing, 32 raw bytes for X25519 sealing).
    /// Returns the reason it is refused, or null.
    /// </summary>
    public static string? Validate(string? purpose, string? alg, byte[]? publicKey)
    {
        if (publicKey is null) return "public_key must be base64";
        return (purpose, alg) switch
        {
            (KeyPurposes.AnswerSigning, KeyPurposes.Es256) => IsP256Spki(publicKey) ? null : "an ES256 public_key must be the DER SubjectPublicKeyInfo of a P-256 key",
            (KeyPurposes.BodySealing, KeyPurposes.HpkeX25519) => publicKey.Length == 32 ? null : "an X25519 public_key must be 32 raw bytes",
            (KeyPurposes.AnswerSigning or KeyPurposes.BodySealing, _) => $"purpose {purpose} needs alg {(purpose == KeyPurposes.AnswerSigning ? KeyPurposes.Es256 : KeyPurposes.HpkeX25519)}",
            _ => $"purpose must be {KeyPurposes.AnswerSigning} or {KeyPurposes.BodySealing}",
        };
    }

    private static bool IsP256Spki(byte[] spki)
    {
        if (spki.Length > 200) return false;
        try
        {
            using var key = ECDsa.Create();
            key.ImportSubjectPublicKeyInfo(spki, out var read);
            return read == spki.Length && key.ExportParameters(false).Curve.Oid.Value == "1.2.840.10045.3.1.7";
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}
