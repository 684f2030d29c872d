using System.Diagnostics;
using System.Threading.RateLimiting;
using StackExchange.Redis;

namespace RateLimit.Store;

/// <summary>
/// The shared part of the Redis limiters: statistics, idle tracking and the failure policy.
/// Each decision is one script run (one round trip); when Redis fails, the decision falls back
/// to an in-process twin of the same algorithm, or is refused, as the options say.
/// </summary>
public abstract class RedisRateLimiter<TOptions> : RateLimiter where TOptions : RedisRateLimiterOptions
{
    private long _successful;
    private long _failed;
    private long _lastRemaining;
    private long _lastUsed = Stopwatch.GetTimestamp();

    protected RedisRateLimiter(TOptions options, string name)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        Name = name;
        Database = options.RequireConnection().GetDatabase();
    }

    protected TOptions Options { get; }
    protected IDatabase Database { get; }
    private string Name { get; }

    /// <remarks>
    /// State lives in Redis, so an idle limiter may be dropped by <see cref="PartitionedRateLimiter"/> — unless
    /// its in-process fallback holds state from an outage, which would be lost.
    /// </remarks>
    public override TimeSpan? IdleDuration => HasLocalState ? null : Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastUsed));

    /// <summary>Whether the in-process fallback holds decisions that still count.</summary>
    protected abstract bool HasLocalState { get; }

    public override RateLimiterStatistics? GetStatistics() => new()
    {
        CurrentAvailablePermits = Interlocked.Read(ref _lastRemaining),
        CurrentQueuedCount = 0,
        TotalSuccessfulLeases = Interlocked.Read(ref _successful),
        TotalFailedLeases = Interlocked.Read(ref _failed),
    };

    protected override RateLimitLease AttemptAcquireCore(int permitCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(permitCount);
        try
        {
            return Record(Decide(permitCount));
        }
        catch (Exception e) when (IsRedisFailure(e))
        {
            return Record(Fallback(permitCount));
        }
    }

    protected override async ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(permitCount);
        while (true)
        {
            RedisRateLimitLease lease;
            try
            {
                lease = await DecideAsync(permitCount).WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (IsRedisFailure(e))
            {
                lease = Fallback(permitCount);
            }
            if (lease.IsAcquired || !MayWait(permitCount) || lease.RetryAfter is not { } wait || lease.Unavailable)
                return Record(lease);
            lease.Dispose();
            await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Whether <c>AcquireAsync</c> waits for a refused request rather than answering at once.</summary>
    protected virtual bool MayWait(int permitCount) => false;

    protected abstract RedisRateLimitLease Decide(int permitCount);
    protected abstract Task<RedisRateLimitLease> DecideAsync(int permitCount);

    /// <summary>The in-process decision used while Redis is unreachable under FailOpen.</summary>
    protected abstract RedisRateLimitLease DecideLocally(int permitCount);

    private RedisRateLimitLease Fallback(int permitCount)
    {
        RateLimitTelemetry.RedisFailures.Add(1, new KeyValuePair<string, object?>("limiter", Name));
        return Options.FailurePolicy == RedisFailurePolicy.FailOpen
            ? DecideLocally(permitCount)
            : new RedisRateLimitLease(false, 0, 0, TimeSpan.Zero, TimeSpan.FromSeconds(1), unavailable: true);
    }

    private RedisRateLimitLease Record(RedisRateLimitLease lease)
    {
        Interlocked.Exchange(ref _lastUsed, Stopwatch.GetTimestamp());
        Interlocked.Exchange(ref _lastRemaining, lease.Remaining);
        Interlocked.Increment(ref lease.IsAcquired ? ref _successful : ref _failed);
        RateLimitTelemetry.Decided(Name, lease);
        return lease;
    }

    internal static bool IsRedisFailure(Exception e) =>
        e is RedisConnectionException or RedisTimeoutException or TimeoutException
        || (e is RedisServerException s && (s.Message.StartsWith("LOADING", StringComparison.Ordinal) || s.Message.StartsWith("BUSY", StringComparison.Ordinal)));

    protected static TimeSpan Micros(long us) => TimeSpan.FromTicks(us * 10);
}
