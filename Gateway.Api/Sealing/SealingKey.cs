using TeeAspire.Attestation.Verifier.Sealing;

namespace Gateway.Api.Sealing;

/// <summary>
/// The gateway's EHBP key: made at start, in memory only, never written anywhere. A restart
/// rotates it; clients holding the old one get 422 and fetch the new configuration.
/// </summary>
public sealed class SealingKey
{
    public X25519KeyPair Pair { get; } = X25519KeyPair.Generate();

    /// <summary>The raw 32-byte public key: the key set's <c>body-sealing</c> entry and the key config's key.</summary>
    public byte[] PublicKey => Pair.PublicKey;

    /// <summary>What <c>/.well-known/hpke-keys</c> serves.</summary>
    public byte[] KeyConfig { get; }

    public SealingKey() => KeyConfig = EhbpKeyConfig.ForX25519(Pair.PublicKey).Encode();
}
