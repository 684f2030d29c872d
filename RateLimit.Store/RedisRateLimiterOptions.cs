using StackExchange.Redis;

namespace RateLimit.Store;

/// <summary>What happens to a decision when Redis cannot be reached.</summary>
public enum RedisFailurePolicy
{
    /// <summary>
    /// Decide with an in-process limiter of the same algorithm (one per limiter instance, so each
    /// replica enforces the limit on its own) and mark the lease <see cref="RedisRateLimitLease.Degraded"/>.
    /// </summary>
    FailOpen,

    /// <summary>Refuse: the lease is not acquired and <see cref="RedisRateLimitLease.Unavailable"/> is set.</summary>
    FailClosed,
}

/// <summary>Options every Redis limiter shares.</summary>
public abstract class RedisRateLimiterOptions
{
    /// <summary>The Redis connection; one multiplexer is shared by all limiters.</summary>
    public IConnectionMultiplexer? Connection { get; set; }

    /// <summary>The partition this limiter decides for; becomes the Redis cluster hash tag.</summary>
    public string Partition { get; set; } = "default";

    /// <summary>The default <see cref="KeyPrefix"/>.</summary>
    public const string DefaultKeyPrefix = "tee:rl";

    /// <summary>Prefix of every Redis key.</summary>
    public string KeyPrefix { get; set; } = DefaultKeyPrefix;

    public RedisFailurePolicy FailurePolicy { get; set; } = RedisFailurePolicy.FailOpen;

    internal IConnectionMultiplexer RequireConnection() =>
        Connection ?? throw new ArgumentException("Options.Connection must be set.", nameof(Connection));

    internal RedisKey Key(string kind) => $"{KeyPrefix}:{{{Partition}}}:{kind}";
}

/// <summary>Requests per window, counted over a sliding log of grants: exact, with no fixed-window double bursts.</summary>
public sealed class RedisSlidingWindowRateLimiterOptions : RedisRateLimiterOptions
{
    public int PermitLimit { get; set; } = 60;
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Permits <c>AcquireAsync</c> may wait for (0: never waits, like <c>AttemptAcquire</c>).</summary>
    public int QueueLimit { get; set; }
}

/// <summary>
/// A token budget per window that refills continuously. Admission needs a positive balance;
/// the actual cost is debited afterwards and may drive the balance below zero once.
/// </summary>
public sealed class RedisTokenBudgetRateLimiterOptions : RedisRateLimiterOptions
{
    public int TokenLimit { get; set; } = 100_000;
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>Leases held for the life of a request; a lease whose holder died expires after <see cref="LeaseTtl"/>.</summary>
public sealed class RedisConcurrencyRateLimiterOptions : RedisRateLimiterOptions
{
    public int PermitLimit { get; set; } = 4;

    /// <summary>How long a lease lives without renewal; the holder renews it every third of this.</summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(30);
}
