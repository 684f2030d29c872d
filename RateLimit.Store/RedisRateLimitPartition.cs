using System.Threading.RateLimiting;

namespace RateLimit.Store;

/// <summary>Per-key partitions for <see cref="PartitionedRateLimiter"/>, as the BCL's <see cref="RateLimitPartition"/> does for in-process limiters.</summary>
public static class RedisRateLimitPartition
{
    /// <summary>The partition of an API key's limits, shared by the gateway (admission) and the worker (token debits).</summary>
    public static string ForApiKey(string keyId) => "key:" + keyId;

    public static RateLimitPartition<TKey> GetSlidingWindowLimiter<TKey>(TKey partitionKey, Func<TKey, RedisSlidingWindowRateLimiterOptions> factory) =>
        RateLimitPartition.Get(partitionKey, key => new RedisSlidingWindowRateLimiter(factory(key)));

    public static RateLimitPartition<TKey> GetTokenBudgetLimiter<TKey>(TKey partitionKey, Func<TKey, RedisTokenBudgetRateLimiterOptions> factory) =>
        RateLimitPartition.Get(partitionKey, key => new RedisTokenBudgetRateLimiter(factory(key)));

    public static RateLimitPartition<TKey> GetConcurrencyLimiter<TKey>(TKey partitionKey, Func<TKey, RedisConcurrencyRateLimiterOptions> factory) =>
        RateLimitPartition.Get(partitionKey, key => new RedisConcurrencyRateLimiter(factory(key)));
}
