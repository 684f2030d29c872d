using System.Text.Json;
using StackExchange.Redis;
using TeeAspire.Contracts;


namespace Attestation.Api.Signatures;

/// <summary>Reads completion signatures the worker stored with each completion's usage (<see cref="RedisContract.SignatureKey"/>).</summary>
public sealed class SignatureStore(IConnectionMultiplexer redis)
{
    public async Task<StoredSignature?> GetAsync(string id)
    {
        var value = await redis.GetDatabase().StringGetAsync(RedisContract.SignatureKey(id));
        if (value.IsNullOrEmpty) return null;
        try
        {
            return JsonSerializer.Deserialize((string)value!, ContractJsonContext.Default.StoredSignature);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
