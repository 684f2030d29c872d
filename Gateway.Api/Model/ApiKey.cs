using System.Text.Json.Serialization;

namespace Gateway.Api.Model;

/// <summary>An API key as stored: never the secret, only its SHA-256.</summary>
public sealed record ApiKeyRecord(
    string Id,
    string Name,
    DateTimeOffset CreatedAt,
    int Rpm,
    int Tpm,
    int MaxParallel,
    IReadOnlyList<string>? Models,
    DateTimeOffset? ExpiresAt,
    bool Revoked,
    DateTimeOffset? RevokedAt,
    string SecretSha256,
    string SecretHint,
    bool Legacy = false,
    bool RequireSealed = false)
{
    public bool Allows(string model) => TeeAspire.Contracts.ModelAllowlist.Allows(Models, model);

    public bool IsExpired(DateTimeOffset now) => ExpiresAt is { } e && e <= now;
}

/// <summary>What the admin API shows of a key.</summary>
public sealed record ApiKeyView(
    string Id,
    string Object,
    string Name,
    long CreatedAt,
    int Rpm,
    int Tpm,
    int MaxParallel,
    IReadOnlyList<string>? Models,
    long? ExpiresAt,
    bool Revoked,
    long? RevokedAt,
    string SecretHint,
    bool Legacy,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] KeyUsage? Usage)
{
    /// <summary>Plaintext bodies are refused: requests must be sealed (EHBP).</summary>
    public bool RequireSealed { get; init; }

    public static ApiKeyView From(ApiKeyRecord r, KeyUsage? usage = null) => new(
        r.Id, "api_key", r.Name, r.CreatedAt.ToUnixTimeSeconds(), r.Rpm, r.Tpm, r.MaxParallel, r.Models,
        r.ExpiresAt?.ToUnixTimeSeconds(), r.Revoked, r.RevokedAt?.ToUnixTimeSeconds(), r.SecretHint, r.Legacy, usage) { RequireSealed = r.RequireSealed };
}

/// <summary>A new key: the secret appears here once and is never stored.</summary>
public sealed record CreatedApiKey(
    string Id,
    string Object,
    [property: JsonPropertyName("key")] string? Key,
    string Name,
    long CreatedAt,
    int Rpm,
    int Tpm,
    int MaxParallel,
    IReadOnlyList<string>? Models,
    long? ExpiresAt,
    bool Imported,
    bool Legacy);

public sealed record KeyUsage(long Requests, long PromptTokens, long CompletionTokens);

public sealed record KeyList(string Object, IReadOnlyList<ApiKeyView> Data);

public sealed record DeletedKey(string Id, string Object, bool Deleted);
