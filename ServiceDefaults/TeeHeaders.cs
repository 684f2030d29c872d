namespace Microsoft.Extensions.Hosting;

/// <summary>Headers the services exchange. The gateway strips every <c>x-tee-*</c> header a client sends.</summary>
public static class TeeHeaders
{
    public const string RequestId = "x-request-id";

    /// <summary>Gateway → worker: the authenticated API key's id (never its secret).</summary>
    public const string KeyId = "x-tee-key-id";

    /// <summary>
    /// Gateway → worker: the authenticated key's model allowlist (<c>TeeAspire.Contracts.ModelAllowlist</c>),
    /// absent when the key may use every model. The worker enforces it on the model it resolves.
    /// </summary>
    public const string KeyModels = "x-tee-key-models";

    /// <summary>
    /// Gateway → worker: tokens admission already took from the key's budget (the prompt's
    /// estimate); the worker's debit of the actual tokens subtracts them, and gives them back when
    /// no backend was reached.
    /// </summary>
    public const string TokensReserved = "x-tee-tokens-reserved";

    /// <summary>Worker → client: the completion's signature (non-stream responses).</summary>
    public const string Signature = "x-tee-signature";

    /// <summary>Worker → client: the signing key's fingerprint.</summary>
    public const string SigningKey = "x-tee-signing-key";

    /// <summary>Service → service: the internal token (<c>Attestation:InternalToken</c>) that every internal call carries.</summary>
    public const string InternalToken = "x-tee-internal-token";

    public const string InternalPrefix = "x-tee-";
}
