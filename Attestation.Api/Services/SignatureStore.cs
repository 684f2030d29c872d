using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Attestation.Api.Services;

public sealed record StoredSignature(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("text")] string Text,
    [property: JsonPropertyName("signature")] string Signature,
    [property: JsonPropertyName("algo")] string Algo,
    [property: JsonPropertyName("signing_key_fingerprint")] string SigningKeyFingerprint,
    [property: JsonPropertyName("key_id")] string KeyId);

[JsonSerializable(typeof(StoredSignature))]
internal sealed partial class SignatureJsonContext : JsonSerializerContext;

/// <summary>Completion signatures in Redis (<c>tee:sig:{id}</c>) with a TTL; only the API key that made a completion may read it.</summary>
public sealed class SignatureStore(IConnectionMultiplexer redis, IOptions<AttestationOptions> options)
{
    private static RedisKey Key(string id) => $"tee:sig:{{{id}}}";

    public Task SaveAsync(StoredSignature signature) =>
        redis.GetDatabase().StringSetAsync(Key(signature.Id), JsonSerializer.Serialize(signature, SignatureJsonContext.Default.StoredSignature),
            options.Value.SignatureTtl, When.NotExists);

    public async Task<StoredSignature?> GetAsync(string id)
    {
        var value = await redis.GetDatabase().StringGetAsync(Key(id));
        return value.IsNullOrEmpty ? null : JsonSerializer.Deserialize((string)value!, SignatureJsonContext.Default.StoredSignature);
    }
}
