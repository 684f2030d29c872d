using System.Text.Json.Serialization;

namespace TeeAspire.Contracts;

/// <summary>
/// The Redis keys and fields the services share: the worker writes usage and signatures, the
/// gateway's admin API reads usage, Attestation.Api serves signatures. Written once here.
/// </summary>
public static class RedisContract
{
    /// <summary>Per-key usage counters: a hash with <see cref="UsageFields"/> and one <c>model:&lt;id&gt;:completion_tokens</c> field per model.</summary>
    public static string UsageKey(string keyId) => $"tee:usage:{{{keyId}}}";

    /// <summary>One completion's signature (JSON <see cref="StoredSignature"/>), with a TTL.</summary>
    public static string SignatureKey(string completionId) => $"tee:sig:{{{completionId}}}";

    /// <summary>The key's tokens-per-minute budget, as RateLimit.Store names it (prefix <c>tee:rl</c>, partition <c>key:&lt;id&gt;</c>).</summary>
    public static string TokenBudgetKey(string keyId) => $"tee:rl:{{key:{keyId}}}:tok";

    public static class UsageFields
    {
        public const string Requests = "requests";
        public const string PromptTokens = "prompt_tokens";
        public const string CompletionTokens = "completion_tokens";

        public static string ModelCompletionTokens(string model) => $"model:{model}:completion_tokens";
    }
}

/// <summary>
/// A completion's signature as stored and served at <c>GET /v1/signature/{id}</c> (minus
/// <see cref="KeyId"/>, the owner, which is never served). <see cref="Text"/> is the answer
/// statement (PROTOCOL.md); verifiers rebuild it and never read it from here.
/// </summary>
public sealed record StoredSignature(
    string Id,
    long Created,
    string Text,
    string Signature,
    string Algo,
    string SigningKeyFingerprint,
    string? Nonce,
    string KeyId);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(StoredSignature))]
public sealed partial class ContractJsonContext : JsonSerializerContext;
