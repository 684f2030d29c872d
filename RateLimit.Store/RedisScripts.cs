using System.Security.Cryptography;
using System.Text;
using StackExchange.Redis;

namespace RateLimit.Store;

/// <summary>
/// The Lua scripts, one per decision. Each runs atomically in Redis, takes its clock from Redis
/// (<c>TIME</c>) so replicas with skewed clocks agree, and sets a TTL on every key it writes.
/// They are sent as <c>EVALSHA</c>; only after Redis answers NOSCRIPT (a restart, a flush) is the
/// source sent again.
/// </summary>
internal static class RedisScripts
{
    /// <summary>
    /// Sliding log. KEYS[1] zset of grants (score = µs). ARGV: limit, window ms, permits, id.
    /// Returns {granted, remaining, retry_after_us, reset_us}.
    /// </summary>
    public static readonly Script SlidingWindow = new("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        -- Lua prints numbers with 14 digits; microsecond times need 16
        local function s(x) return string.format('%.0f', x) end
        local limit = tonumber(ARGV[1])
        local window = tonumber(ARGV[2]) * 1000
        local permits = tonumber(ARGV[3])
        -- forget grants that left the window
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', s(now - window))
        local count = redis.call('ZCARD', KEYS[1])
        local granted = 0
        local retry = 0
        if permits == 0 or count + permits <= limit then
          for i = 1, permits do
            redis.call('ZADD', KEYS[1], s(now), ARGV[4] .. ':' .. i)
          end
          count = count + permits
          granted = 1
        elseif permits <= limit then
          -- the grant that must leave the window before this one fits
          local nth = redis.call('ZRANGE', KEYS[1], count + permits - limit - 1, count + permits - limit - 1, 'WITHSCORES')
          retry = tonumber(nth[2]) + window - now
        else
          retry = -1
        end
        local reset = 0
        local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
        if newest[2] then reset = tonumber(newest[2]) + window - now end
        if count > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return {granted, limit - count, retry, reset}
        """);

    /// <summary>
    /// Token budget admission. KEYS[1] hash {b = balance, ts = µs, cap}. ARGV: limit, window ms.
    /// Refills at limit/window, capped at limit; admits while the balance is positive.
    /// Returns {granted, balance, retry_after_us, reset_us}.
    /// </summary>
    public static readonly Script TokenAdmit = new("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        -- Lua prints numbers with 14 digits; microsecond times need 16
        local function s(x) return string.format('%.0f', x) end
        local limit = tonumber(ARGV[1])
        local window = tonumber(ARGV[2]) * 1000
        local rate = limit / window
        local state = redis.call('HMGET', KEYS[1], 'b', 'ts')
        local balance = tonumber(state[1]) or limit
        local ts = tonumber(state[2]) or now
        balance = math.min(limit, balance + (now - ts) * rate)
        redis.call('HSET', KEYS[1], 'b', tostring(balance), 'ts', s(now), 'cap', s(limit), 'win', ARGV[2])
        redis.call('PEXPIRE', KEYS[1], s(ARGV[2] * 2))
        local reset = math.ceil((limit - balance) / rate)
        if balance > 0 then
          return {1, math.floor(balance), 0, reset}
        end
        return {0, 0, math.ceil((1 - balance) / rate), reset}
        """);

    /// <summary>
    /// Debit actual usage. KEYS[1] as for admission. ARGV: tokens, default limit, default window ms.
    /// Uses the limit stored at admission so the worker needs no key record. Returns the new balance.
    /// </summary>
    public static readonly Script TokenDebit = new("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        -- Lua prints numbers with 14 digits; microsecond times need 16
        local function s(x) return string.format('%.0f', x) end
        local state = redis.call('HMGET', KEYS[1], 'b', 'ts', 'cap', 'win')
        local limit = tonumber(state[3]) or tonumber(ARGV[2])
        local win = tonumber(state[4]) or tonumber(ARGV[3])
        local rate = limit / (win * 1000)
        local balance = tonumber(state[1]) or limit
        local ts = tonumber(state[2]) or now
        balance = math.min(limit, balance + (now - ts) * rate) - tonumber(ARGV[1])
        redis.call('HSET', KEYS[1], 'b', tostring(balance), 'ts', s(now), 'cap', s(limit), 'win', s(win))
        redis.call('PEXPIRE', KEYS[1], s(win * 2))
        return tostring(balance)
        """);

    /// <summary>
    /// Concurrency lease. KEYS[1] zset of lease ids (score = expiry µs). ARGV: limit, ttl ms, id.
    /// Expired leases (their holder died) are dropped first. Returns {granted, remaining}.
    /// </summary>
    public static readonly Script ConcurrencyAcquire = new("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        -- Lua prints numbers with 14 digits; microsecond times need 16
        local function s(x) return string.format('%.0f', x) end
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', s(now))
        local count = redis.call('ZCARD', KEYS[1])
        local limit = tonumber(ARGV[1])
        if count < limit then
          redis.call('ZADD', KEYS[1], s(now + tonumber(ARGV[2]) * 1000), ARGV[3])
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return {1, limit - count - 1}
        end
        return {0, 0}
        """);

    /// <summary>Renews a held lease. KEYS[1] as above. ARGV: ttl ms, id. Returns 1 if it was still held.</summary>
    public static readonly Script ConcurrencyRenew = new("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        -- Lua prints numbers with 14 digits; microsecond times need 16
        local function s(x) return string.format('%.0f', x) end
        if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
          redis.call('ZADD', KEYS[1], s(now + tonumber(ARGV[1]) * 1000), ARGV[2])
          redis.call('PEXPIRE', KEYS[1], ARGV[1])
          return 1
        end
        return 0
        """);

    /// <summary>
    /// An API key's admission in one call: requests per window (sliding log), tokens per window
    /// (refilling budget) and concurrent requests (leases), all or nothing — a refused request
    /// takes no request slot and no lease. KEYS: [1] request log zset (score = µs), [2] token
    /// budget hash {b, ts, cap, win} (the layout <see cref="TokenDebit"/> uses), [3] lease zset
    /// (score = expiry µs); all three share the partition's hash tag. ARGV: request limit,
    /// request window ms, token limit, token window ms, concurrency limit, lease TTL ms, id,
    /// scope (1: all three limits; 0: requests only — a call that generates nothing), tokens to
    /// reserve (the prompt's estimate: the budget must hold it, and an admission takes it).
    /// Returns {refused_by (0 none, 1 requests, 2 tokens, 3 concurrency), requests_remaining,
    /// requests_retry_us, requests_reset_us, token_balance, tokens_retry_us, tokens_reset_us,
    /// concurrency_remaining}.
    /// </summary>
    public static readonly Script KeyAdmit = new("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        -- Lua prints numbers with 14 digits; microsecond times need 16
        local function s(x) return string.format('%.0f', x) end
        local nows = s(now)
        local full = ARGV[8] == '1'
        local refused = 0

        -- requests: forget grants that left the window, then count
        local rlimit = tonumber(ARGV[1])
        local rwin = tonumber(ARGV[2]) * 1000
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', s(now - rwin))
        local rcount = redis.call('ZCARD', KEYS[1])
        local rretry = 0
        if rcount >= rlimit then
          refused = 1
          -- the grant that must leave the window before one more fits
          local nth = redis.call('ZRANGE', KEYS[1], rcount - rlimit, rcount - rlimit, 'WITHSCORES')
          rretry = tonumber(nth[2]) + rwin - now
        end

        local balance, tretry, treset, ccount, climit = 0, 0, 0, 0, 0
        if full then
          -- tokens: refill at limit/window, capped at the limit; admit while the balance is positive
          local tlimit = tonumber(ARGV[3])
          local rate = tlimit / (tonumber(ARGV[4]) * 1000)
          local state = redis.call('HMGET', KEYS[2], 'b', 'ts')
          balance = tonumber(state[1]) or tlimit
          local ts = tonumber(state[2]) or now
          balance = math.min(tlimit, balance + (now - ts) * rate)
          -- storing the refill is a pure function of time, so it is written even when refused
          redis.call('HSET', KEYS[2], 'b', tostring(balance), 'ts', nows, 'cap', s(tlimit), 'win', ARGV[4])
          redis.call('PEXPIRE', KEYS[2], s(tonumber(ARGV[4]) * 2))
          treset = math.ceil((tlimit - balance) / rate)
          -- the prompt's estimate must fit too (ARGV[9]; at most the whole budget, so any prompt passes on a full one)
          local need = math.min(tonumber(ARGV[9]) or 0, tlimit)
          if balance <= 0 or balance < need then
            tretry = math.ceil((math.max(need, 1) - balance) / rate)
            if refused == 0 then refused = 2 end
          end
          -- concurrency: drop leases whose holder died (expired), then count
          climit = tonumber(ARGV[5])
          redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', nows)
          ccount = redis.call('ZCARD', KEYS[3])
          if ccount >= climit and refused == 0 then refused = 3 end
        end

        if refused == 0 then
          redis.call('ZADD', KEYS[1], nows, ARGV[7])
          rcount = rcount + 1
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          if full then
            redis.call('ZADD', KEYS[3], s(now + tonumber(ARGV[6]) * 1000), ARGV[7])
            ccount = ccount + 1
            redis.call('PEXPIRE', KEYS[3], ARGV[6])
            -- the estimate is taken now, so requests in flight at once cannot all spend the same budget;
            -- the worker's debit afterwards subtracts it from the actual count
            local reserve = tonumber(ARGV[9]) or 0
            if reserve > 0 then
              balance = balance - reserve
              redis.call('HSET', KEYS[2], 'b', tostring(balance))
            end
          end
        end
        -- the window is empty again one window after its newest grant: this one when admitted
        local rreset = rwin
        if refused ~= 0 then
          rreset = 0
          local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
          if newest[2] then rreset = tonumber(newest[2]) + rwin - now end
        end
        return {refused, rlimit - rcount, rretry, rreset, math.floor(balance), tretry, treset, climit - ccount}
        """);

    internal sealed class Script(string source)
    {
        public string Source { get; } = source;
        public byte[] Sha1 { get; } = SHA1.HashData(Encoding.UTF8.GetBytes(source));

        public async Task<RedisResult> RunAsync(IDatabase db, RedisKey[] keys, RedisValue[] args)
        {
            try
            {
                return await db.ScriptEvaluateAsync(Sha1, keys, args).ConfigureAwait(false);
            }
            catch (RedisServerException e) when (e.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
            {
                return await db.ScriptEvaluateAsync(Source, keys, args).ConfigureAwait(false);
            }
        }

        public RedisResult Run(IDatabase db, RedisKey[] keys, RedisValue[] args)
        {
            try
            {
                return db.ScriptEvaluate(Sha1, keys, args);
            }
            catch (RedisServerException e) when (e.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
            {
                return db.ScriptEvaluate(Source, keys, args);
            }
        }
    }
}
