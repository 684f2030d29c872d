using StackExchange.Redis;

namespace RateLimit.Store;

/// <summary>
/// Requests per window over a sliding log in Redis: at most <c>PermitLimit</c> grants in any
/// window-long span, exactly, across every process sharing the Redis — no fixed-window double
/// bursts at window edges.
/// </summary>
public sealed class RedisSlidingWindowRateLimiter : RedisRateLimiter<RedisSlidingWindowRateLimiterOptions>
{
    private readonly RedisKey[] _keys;
    private readonly LocalSlidingLog _local;

    public RedisSlidingWindowRateLimiter(RedisSlidingWindowRateLimiterOptions options) : base(options, "sliding_window")
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.PermitLimit, 1);
        _keys = [options.Key("req")];
        _local = new LocalSlidingLog(options.PermitLimit, options.Window);
    }

    protected override bool MayWait(int permitCount) => permitCount <= Options.QueueLimit;

    protected override RedisRateLimitLease Decide(int permitCount) =>
        Lease(RedisScripts.SlidingWindow.Run(Database, _keys, Args(permitCount)));

    protected override async Task<RedisRateLimitLease> DecideAsync(int permitCount) =>
        Lease(await RedisScripts.SlidingWindow.RunAsync(Database, _keys, Args(permitCount)).ConfigureAwait(false));

    protected override RedisRateLimitLease DecideLocally(int permitCount) => _local.Decide(permitCount);

    protected override bool HasLocalState => _local.HasGrants;

    private RedisValue[] Args(int permits) =>
        [Options.PermitLimit, (long)Options.Window.TotalMilliseconds, permits, Guid.NewGuid().ToString("N")];

    private RedisRateLimitLease Lease(RedisResult result)
    {
        var r = (RedisResult[])result!;
        var retry = (long)r[2];
        return new RedisRateLimitLease((long)r[0] == 1, Options.PermitLimit, (long)r[1], Micros((long)r[3]),
            (long)r[0] == 1 ? null : retry < 0 ? null : Micros(retry));
    }

    /// <summary>The same algorithm in-process, for FailOpen.</summary>
    internal sealed class LocalSlidingLog(int limit, TimeSpan window)
    {
        private readonly Queue<long> _grants = new();
        private readonly TimeProvider _time = TimeProvider.System;

        public bool HasGrants
        {
            get
            {
                lock (_grants) return _grants.Count > 0 && _time.GetElapsedTime(_grants.Last()) < window;
            }
        }

        public RedisRateLimitLease Decide(int permits)
        {
            lock (_grants)
            {
                var now = _time.GetTimestamp();
                var windowTicks = (long)(window.TotalSeconds * _time.TimestampFrequency);
                while (_grants.Count > 0 && _grants.Peek() <= now - windowTicks) _grants.Dequeue();
                var granted = permits <= limit - _grants.Count;
                if (granted) for (var i = 0; i < permits; i++) _grants.Enqueue(now);
                TimeSpan? retry = null;
                if (!granted && permits <= limit)
                    retry = _time.GetElapsedTime(now, _grants.ElementAt(_grants.Count + permits - limit - 1) + windowTicks);
                var reset = _grants.Count == 0 ? TimeSpan.Zero : _time.GetElapsedTime(now, _grants.Last() + windowTicks);
                return new RedisRateLimitLease(granted, limit, limit - _grants.Count, reset, retry, degraded: true);
            }
        }
    }
}
