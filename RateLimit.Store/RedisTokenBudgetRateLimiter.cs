using StackExchange.Redis;

namespace RateLimit.Store;

/// <summary>
/// Tokens per window as a continuously refilling budget in Redis. A request is admitted while the
/// balance is positive (<c>AttemptAcquire(0)</c>: it does not know its cost yet); its actual usage
/// is debited afterwards with <see cref="DebitAsync(long)"/>, which may overdraw once — then the next
/// request waits until the balance has refilled above zero.
/// </summary>
public sealed class RedisTokenBudgetRateLimiter : RedisRateLimiter<RedisTokenBudgetRateLimiterOptions>
{
    private readonly RedisKey[] _keys;
    private readonly LocalBudget _local;

    public RedisTokenBudgetRateLimiter(RedisTokenBudgetRateLimiterOptions options) : base(options, "token_budget")
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.TokenLimit, 1);
        _keys = [options.Key("tok")];
        _local = new LocalBudget(options.TokenLimit, options.Window);
    }

    protected override RedisRateLimitLease Decide(int permitCount) =>
        Lease(RedisScripts.TokenAdmit.Run(Database, _keys, Args()));

    protected override async Task<RedisRateLimitLease> DecideAsync(int permitCount) =>
        Lease(await RedisScripts.TokenAdmit.RunAsync(Database, _keys, Args()).ConfigureAwait(false));

    protected override RedisRateLimitLease DecideLocally(int permitCount) => _local.Admit();

    protected override bool HasLocalState => _local.Spent;

    /// <summary>Debits actual usage from this limiter's budget; returns the balance after it.</summary>
    public Task<double> DebitAsync(long tokens) =>
        DebitAsync(Database, Options.KeyPrefix, Options.Partition, tokens, Options.TokenLimit, Options.Window, _local);

    /// <summary>
    /// Debits actual usage from a partition's budget without a limiter instance (the worker's
    /// side: it knows the key id, not the key's limit — the limit stored at admission is used).
    /// </summary>
    public static Task<double> DebitAsync(IDatabase database, string keyPrefix, string partition, long tokens, int defaultLimit, TimeSpan defaultWindow) =>
        DebitAsync(database, keyPrefix, partition, tokens, defaultLimit, defaultWindow, null);

    private static async Task<double> DebitAsync(IDatabase database, string keyPrefix, string partition, long tokens, int defaultLimit, TimeSpan defaultWindow, LocalBudget? local)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        try
        {
            var result = await RedisScripts.TokenDebit.RunAsync(database, [$"{keyPrefix}:{{{partition}}}:tok"],
                [tokens, defaultLimit, (long)defaultWindow.TotalMilliseconds]).ConfigureAwait(false);
            return double.Parse((string)result!, System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (IsRedisFailure(e) && local is not null)
        {
            return local.Debit(tokens);
        }
    }

    private RedisValue[] Args() => [Options.TokenLimit, (long)Options.Window.TotalMilliseconds];

    private RedisRateLimitLease Lease(RedisResult result)
    {
        var r = (RedisResult[])result!;
        var granted = (long)r[0] == 1;
        return new RedisRateLimitLease(granted, Options.TokenLimit, (long)r[1], Micros((long)r[3]), granted ? null : Micros((long)r[2]));
    }

    /// <summary>The same budget in-process, for FailOpen.</summary>
    internal sealed class LocalBudget(int limit, TimeSpan window)
    {
        private readonly TimeProvider _time = TimeProvider.System;
        private double _balance = limit;
        private long _at = TimeProvider.System.GetTimestamp();

        private double RatePerSecond => limit / window.TotalSeconds;

        public bool Spent
        {
            get
            {
                lock (this)
                {
                    Refill();
                    return _balance < limit;
                }
            }
        }

        private void Refill()
        {
            var now = _time.GetTimestamp();
            _balance = Math.Min(limit, _balance + _time.GetElapsedTime(_at, now).TotalSeconds * RatePerSecond);
            _at = now;
        }

        /// <summary>Admits while the balance is positive and holds <paramref name="need"/> (at most the limit); takes nothing.</summary>
        public RedisRateLimitLease Admit(long need = 0)
        {
            lock (this)
            {
                Refill();
                need = Math.Min(need, limit);
                var reset = TimeSpan.FromSeconds((limit - _balance) / RatePerSecond);
                return _balance > 0 && _balance >= need
                    ? new RedisRateLimitLease(true, limit, (long)(_balance - need), reset, null, degraded: true)
                    : new RedisRateLimitLease(false, limit, Math.Max(0, (long)_balance), reset, TimeSpan.FromSeconds((Math.Max(need, 1) - _balance) / RatePerSecond), degraded: true);
            }
        }

        public double Debit(long tokens)
        {
            lock (this)
            {
                Refill();
                return _balance -= tokens;
            }
        }
    }
}
