using StackExchange.Redis;

namespace RateLimit.Store;

/// <summary>
/// Concurrent requests across every process sharing the Redis. A lease is held until disposed and
/// renewed in the background meanwhile; if its holder dies, the lease expires after
/// <c>LeaseTtl</c> and its permit returns.
/// </summary>
public sealed class RedisConcurrencyRateLimiter : RedisRateLimiter<RedisConcurrencyRateLimiterOptions>
{
    private readonly RedisKey[] _keys;
    private readonly LocalCounter _local;

    public RedisConcurrencyRateLimiter(RedisConcurrencyRateLimiterOptions options) : base(options, "concurrency")
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.PermitLimit, 1);
        _keys = [options.Key("conc")];
        _local = new LocalCounter(options.PermitLimit);
    }

    protected override RedisRateLimitLease Decide(int permitCount)
    {
        var id = Guid.NewGuid().ToString("N");
        return Lease(RedisScripts.ConcurrencyAcquire.Run(Database, _keys, Args(id)), id);
    }

    protected override async Task<RedisRateLimitLease> DecideAsync(int permitCount)
    {
        var id = Guid.NewGuid().ToString("N");
        return Lease(await RedisScripts.ConcurrencyAcquire.RunAsync(Database, _keys, Args(id)).ConfigureAwait(false), id);
    }

    protected override RedisRateLimitLease DecideLocally(int permitCount) => _local.Acquire();

    protected override bool HasLocalState => _local.Held > 0;

    private RedisValue[] Args(string id) => [Options.PermitLimit, (long)Options.LeaseTtl.TotalMilliseconds, id];

    private RedisRateLimitLease Lease(RedisResult result, string id)
    {
        var r = (RedisResult[])result!;
        if ((long)r[0] != 1)
            return new RedisRateLimitLease(false, Options.PermitLimit, 0, TimeSpan.Zero, TimeSpan.FromSeconds(1));
        var renewal = new Renewal(this, id);
        return new RedisRateLimitLease(true, Options.PermitLimit, (long)r[1], TimeSpan.Zero, null, release: renewal.Release);
    }

    /// <summary>Keeps a held lease alive, and removes it on release.</summary>
    private sealed class Renewal
    {
        private readonly RedisConcurrencyRateLimiter _owner;
        private readonly string _id;
        private readonly Timer _timer;

        public Renewal(RedisConcurrencyRateLimiter owner, string id)
        {
            _owner = owner;
            _id = id;
            var every = owner.Options.LeaseTtl / 3;
            _timer = new Timer(_ => Renew(), null, every, every);
        }

        private void Renew()
        {
            _ = RedisScripts.ConcurrencyRenew.RunAsync(_owner.Database, _owner._keys, [(long)_owner.Options.LeaseTtl.TotalMilliseconds, _id])
                .ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
        }

        public void Release()
        {
            _timer.Dispose();
            // Fire and forget: a failed removal still expires by TTL.
            _ = _owner.Database.SortedSetRemoveAsync(_owner._keys[0], _id, CommandFlags.FireAndForget);
        }
    }

    /// <summary>The same limit in-process, for FailOpen.</summary>
    internal sealed class LocalCounter(int limit)
    {
        private int _held;

        public int Held => Volatile.Read(ref _held);

        public RedisRateLimitLease Acquire()
        {
            var now = Interlocked.Increment(ref _held);
            if (now <= limit)
                return new RedisRateLimitLease(true, limit, limit - now, TimeSpan.Zero, null, degraded: true, release: () => Interlocked.Decrement(ref _held));
            Interlocked.Decrement(ref _held);
            return new RedisRateLimitLease(false, limit, 0, TimeSpan.Zero, TimeSpan.FromSeconds(1), degraded: true);
        }
    }
}
