using System.Collections.Concurrent;
using System.Threading.RateLimiting;
using StackExchange.Redis;

namespace RateLimit.Store;

/// <summary>An API key's limits: requests and tokens per window, and concurrent requests.</summary>
public readonly record struct KeyLimits(int RequestsPerWindow, int TokensPerWindow, int Concurrency);

/// <summary>Which of a key's limits refused an admission.</summary>
public enum KeyLimit
{
    None,
    Requests,
    Tokens,
    Concurrency,
}

/// <summary>Options of <see cref="RedisKeyLimiter"/>; the limits themselves come with each call.</summary>
public sealed class RedisKeyLimiterOptions
{
    /// <summary>The Redis connection, shared with the other limiters.</summary>
    public IConnectionMultiplexer? Connection { get; set; }

    /// <summary>Prefix of every Redis key; the single-algorithm limiters use the same key names, so counts carry over.</summary>
    public string KeyPrefix { get; set; } = RedisRateLimiterOptions.DefaultKeyPrefix;

    public TimeSpan RequestWindow { get; set; } = TimeSpan.FromMinutes(1);
    public TimeSpan TokenWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How long a lease lives without renewal; the holder renews it every third of this.</summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(30);

    public RedisFailurePolicy FailurePolicy { get; set; } = RedisFailurePolicy.FailOpen;
}

/// <summary>
/// Admits a request for an API key against all of its limits in one Redis round trip (one
/// <c>EVALSHA</c>): requests per window (sliding log), tokens per window (refilling budget, debited
/// afterwards with <see cref="RedisTokenBudgetRateLimiter.DebitAsync(IDatabase, string, string, long, int, TimeSpan)"/>)
/// and concurrent requests (a lease held until the admission is disposed). All or nothing: a
/// refused request takes no request slot and no lease. Releasing a lease is one command sent off
/// the caller's path and retried until Redis takes it; a lease whose holder died expires after
/// <see cref="RedisKeyLimiterOptions.LeaseTtl"/>. When Redis fails, the decision is made by
/// in-process twins of the three algorithms (FailOpen) or refused (FailClosed).
/// </summary>
public sealed class RedisKeyLimiter : IDisposable
{
    private readonly RedisKeyLimiterOptions _options;
    private readonly IDatabase _database;
    private readonly ConcurrentDictionary<(string, KeyLimits), LocalTwins> _local = new();
    private readonly ConcurrentQueue<(RedisKey Key, string Id, long Due)> _releases = new();
    private readonly Timer _releaseRetry;
    private int _retrying;

    public RedisKeyLimiter(RedisKeyLimiterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _database = (options.Connection ?? throw new ArgumentException("Options.Connection must be set.", nameof(options))).GetDatabase();
        _releaseRetry = new Timer(_ => RetryReleases(), null, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>Releases waiting to be retried (Redis was unreachable when they were sent).</summary>
    public int PendingReleases => _releases.Count;

    /// <summary>
    /// Admits one request of <paramref name="partition"/>. With <paramref name="generates"/> all
    /// three limits apply and an admitted result holds a concurrency lease until disposed;
    /// without, only requests per window (a call that generates nothing).
    /// </summary>
    public Task<RedisKeyAdmission> AdmitAsync(string partition, KeyLimits limits, bool generates, CancellationToken cancellationToken = default) =>
        AdmitAsync(partition, limits, generates, reserveTokens: 0, cancellationToken);

    /// <summary>
    /// As <see cref="AdmitAsync(string, KeyLimits, bool, CancellationToken)"/>, and a call that
    /// generates is admitted only while the token budget holds <paramref name="reserveTokens"/>
    /// (its prompt's estimate; at most the whole budget, so a prompt larger than the budget still
    /// passes on a full one), which admission then takes from the budget. Whoever debits the
    /// actual tokens afterwards subtracts what was reserved (<see cref="RedisKeyAdmission.ReservedTokens"/>).
    /// </summary>
    public async Task<RedisKeyAdmission> AdmitAsync(string partition, KeyLimits limits, bool generates, long reserveTokens, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(reserveTokens);
        if (!generates) reserveTokens = 0;
        ArgumentException.ThrowIfNullOrEmpty(partition);
        ArgumentOutOfRangeException.ThrowIfLessThan(limits.RequestsPerWindow, 1);
        if (generates)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(limits.TokensPerWindow, 1);
            ArgumentOutOfRangeException.ThrowIfLessThan(limits.Concurrency, 1);
        }
        var keys = Keys(partition);
        var id = Guid.NewGuid().ToString("N");
        RedisKeyAdmission admission;
        try
        {
            var result = await RedisScripts.KeyAdmit.RunAsync(_database, keys, Args(limits, id, generates, reserveTokens)).WaitAsync(cancellationToken).ConfigureAwait(false);
            admission = FromRedis((RedisResult[])result!, limits, generates, keys[2], id, reserveTokens);
            if (!_local.IsEmpty) ForgetIdleTwins();
        }
        catch (Exception e) when (RedisRateLimiter<RedisRateLimiterOptions>.IsRedisFailure(e))
        {
            RateLimitTelemetry.RedisFailures.Add(1, new KeyValuePair<string, object?>("limiter", "key"));
            admission = _options.FailurePolicy == RedisFailurePolicy.FailOpen
                ? _local.GetOrAdd((partition, limits), _ => new LocalTwins(limits, _options)).Admit(generates, reserveTokens)
                : RedisKeyAdmission.Refused(KeyLimit.None, Unavailable(limits.RequestsPerWindow), null, TimeSpan.FromSeconds(1), unavailable: true);
        }
        RateLimitTelemetry.Decided("key", admission.IsAcquired, admission.Degraded, admission.Unavailable);
        return admission;
    }

    private RedisKey[] Keys(string partition) =>
        [$"{_options.KeyPrefix}:{{{partition}}}:req", $"{_options.KeyPrefix}:{{{partition}}}:tok", $"{_options.KeyPrefix}:{{{partition}}}:conc"];

    private RedisValue[] Args(KeyLimits limits, string id, bool generates, long reserve) =>
    [
        limits.RequestsPerWindow, (long)_options.RequestWindow.TotalMilliseconds,
        Math.Max(1, limits.TokensPerWindow), (long)_options.TokenWindow.TotalMilliseconds,
        Math.Max(1, limits.Concurrency), (long)_options.LeaseTtl.TotalMilliseconds,
        id, generates ? 1 : 0, reserve,
    ];

    private RedisKeyAdmission FromRedis(RedisResult[] r, KeyLimits limits, bool generates, RedisKey leases, string id, long reserve)
    {
        var refusedBy = (KeyLimit)(long)r[0];
        var requests = new RedisRateLimitLease(refusedBy != KeyLimit.Requests, limits.RequestsPerWindow, (long)r[1],
            Micros((long)r[3]), refusedBy == KeyLimit.Requests ? Micros((long)r[2]) : null);
        var tokens = generates
            ? new RedisRateLimitLease(refusedBy != KeyLimit.Tokens, limits.TokensPerWindow, (long)r[4], Micros((long)r[6]), refusedBy == KeyLimit.Tokens ? Micros((long)r[5]) : null)
            : null;
        if (refusedBy != KeyLimit.None)
        {
            var retry = refusedBy == KeyLimit.Concurrency ? TimeSpan.FromSeconds(1) : (refusedBy == KeyLimit.Tokens ? tokens! : requests).RetryAfter;
            return RedisKeyAdmission.Refused(refusedBy, requests, tokens, retry: retry);
        }
        var lease = generates ? new Renewal(this, leases, id) : null;
        return new RedisKeyAdmission(KeyLimit.None, requests, tokens, (long)r[7], retry: null, lease is null ? null : lease.Release) { ReservedTokens = reserve };
    }

    private static RedisRateLimitLease Unavailable(long limit) =>
        new(false, limit, 0, TimeSpan.Zero, TimeSpan.FromSeconds(1), unavailable: true);

    private static TimeSpan Micros(long us) => TimeSpan.FromTicks(us * 10);

    private void ForgetIdleTwins()
    {
        foreach (var (key, twins) in _local)
            if (!twins.HasState) _local.TryRemove(key, out _);
    }

    /// <summary>One command, not awaited by the caller; retried from a queue if Redis did not take it.</summary>
    private void Release(RedisKey key, string id, long due)
    {
        _database.SortedSetRemoveAsync(key, id).ContinueWith(static (t, state) =>
        {
            if (!t.IsFaulted) return;
            _ = t.Exception;
            var (self, key, id, due) = ((RedisKeyLimiter, RedisKey, string, long))state!;
            self._releases.Enqueue((key, id, due));
            self._releaseRetry.Change(TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
        }, (this, key, id, due), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private void RetryReleases()
    {
        if (Interlocked.Exchange(ref _retrying, 1) == 1) return;
        try
        {
            var now = Environment.TickCount64;
            var count = _releases.Count;
            // A lease past its TTL has expired in Redis anyway; the others are sent again.
            for (var i = 0; i < count && _releases.TryDequeue(out var release); i++)
                if (release.Due > now) Release(release.Key, release.Id, release.Due);
        }
        finally
        {
            Volatile.Write(ref _retrying, 0);
        }
    }

    public void Dispose() => _releaseRetry.Dispose();

    /// <summary>Keeps a held lease alive, and releases it when the request ends.</summary>
    private sealed class Renewal
    {
        private readonly RedisKeyLimiter _owner;
        private readonly RedisKey _key;
        private readonly string _id;
        private readonly Timer _timer;

        public Renewal(RedisKeyLimiter owner, RedisKey key, string id)
        {
            _owner = owner;
            _key = key;
            _id = id;
            var every = owner._options.LeaseTtl / 3;
            _timer = new Timer(static s => ((Renewal)s!).Renew(), this, every, every);
        }

        private void Renew() =>
            _ = RedisScripts.ConcurrencyRenew.RunAsync(_owner._database, [_key], [(long)_owner._options.LeaseTtl.TotalMilliseconds, _id])
                .ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);

        public void Release()
        {
            _timer.Dispose();
            _owner.Release(_key, _id, Environment.TickCount64 + (long)_owner._options.LeaseTtl.TotalMilliseconds);
        }
    }

    /// <summary>The three algorithms in-process for one key, for FailOpen: each replica enforces the limits on its own.</summary>
    private sealed class LocalTwins(KeyLimits limits, RedisKeyLimiterOptions options)
    {
        private readonly RedisSlidingWindowRateLimiter.LocalSlidingLog _requests = new(limits.RequestsPerWindow, options.RequestWindow);
        private readonly RedisTokenBudgetRateLimiter.LocalBudget _tokens = new(Math.Max(1, limits.TokensPerWindow), options.TokenWindow);
        private readonly RedisConcurrencyRateLimiter.LocalCounter _leases = new(Math.Max(1, limits.Concurrency));

        public bool HasState => _requests.HasGrants || _tokens.Spent || _leases.Held > 0;

        public RedisKeyAdmission Admit(bool generates, long reserve)
        {
            lock (this)
            {
                if (!generates)
                {
                    var only = _requests.Decide(1);
                    return only.IsAcquired
                        ? new RedisKeyAdmission(KeyLimit.None, only, null, 0, null, null)
                        : RedisKeyAdmission.Refused(KeyLimit.Requests, only, null, only.RetryAfter);
                }
                // All or nothing, as in Redis: the budget check takes nothing, a lease is given back if the request log refuses.
                var tokens = _tokens.Admit(reserve);
                var lease = tokens.IsAcquired ? _leases.Acquire() : null;
                if (lease is { IsAcquired: false })
                    return RedisKeyAdmission.Refused(KeyLimit.Concurrency, Peek(), tokens, TimeSpan.FromSeconds(1));
                var requests = _requests.Decide(lease is null ? 0 : 1);
                if (lease is null)
                    return RedisKeyAdmission.Refused(KeyLimit.Tokens, requests, tokens, tokens.RetryAfter);
                if (!requests.IsAcquired)
                {
                    lease.Dispose();
                    return RedisKeyAdmission.Refused(KeyLimit.Requests, requests, tokens, requests.RetryAfter);
                }
                _tokens.Debit(reserve);
                return new RedisKeyAdmission(KeyLimit.None, requests, tokens, lease.Remaining, null, lease.Dispose);
            }
        }

        private RedisRateLimitLease Peek() => _requests.Decide(0);
    }
}

/// <summary>
/// The outcome of <see cref="RedisKeyLimiter.AdmitAsync(string, KeyLimits, bool, long, CancellationToken)"/>: what each limit says (for the
/// <c>x-ratelimit-*</c> headers), which one refused, and the concurrency lease, released on dispose.
/// </summary>
public sealed class RedisKeyAdmission : RateLimitLease
{
    private readonly Action? _release;
    private int _disposed;

    internal RedisKeyAdmission(KeyLimit refusedBy, RedisRateLimitLease requests, RedisRateLimitLease? tokens, long concurrencyRemaining, TimeSpan? retry, Action? release)
    {
        RefusedBy = refusedBy;
        Requests = requests;
        Tokens = tokens;
        ConcurrencyRemaining = Math.Max(0, concurrencyRemaining);
        RetryAfter = retry;
        _release = release;
    }

    internal static RedisKeyAdmission Refused(KeyLimit by, RedisRateLimitLease requests, RedisRateLimitLease? tokens, TimeSpan? retry, bool unavailable = false) =>
        new(by, requests, tokens, 0, retry, null) { Unavailable = unavailable };

    public override bool IsAcquired => RefusedBy == KeyLimit.None && !Unavailable;

    /// <summary>The limit that refused; <see cref="KeyLimit.None"/> if admitted (or Redis was unavailable under FailClosed).</summary>
    public KeyLimit RefusedBy { get; }

    /// <summary>Requests per window: limit, remaining, reset.</summary>
    public RedisRateLimitLease Requests { get; }

    /// <summary>Tokens per window; null for a call that generates nothing.</summary>
    public RedisRateLimitLease? Tokens { get; }

    public long ConcurrencyRemaining { get; }

    /// <summary>Tokens admission took from the budget in Redis (0 when refused, or decided in-process while Redis was away).</summary>
    public long ReservedTokens { get; internal init; }

    /// <summary>When refused: how long until the same request could succeed; null if it never can.</summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>Decided in-process because Redis was unreachable (<see cref="RedisFailurePolicy.FailOpen"/>).</summary>
    public bool Degraded => Requests.Degraded;

    /// <summary>Refused because Redis was unreachable (<see cref="RedisFailurePolicy.FailClosed"/>).</summary>
    public bool Unavailable { get; private init; }

    public override IEnumerable<string> MetadataNames => RetryAfter is null ? [] : [MetadataName.RetryAfter.Name];

    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        metadata = metadataName == MetadataName.RetryAfter.Name ? RetryAfter : null;
        return metadata is not null;
    }

    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) _release?.Invoke();
    }
}
