using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Api.Model;
using Microsoft.Extensions.Options;
using StackExchange.Redis;


namespace Gateway.Api.Keys;

[JsonSerializable(typeof(ApiKeyRecord))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
internal sealed partial class KeyStoreJsonContext : JsonSerializerContext;

/// <summary>The fields of a key an admin may set; null means "not given".</summary>
public sealed record KeySpec(string? Name, int? Rpm, int? Tpm, int? MaxParallel, IReadOnlyList<string>? Models, DateTimeOffset? ExpiresAt, bool ClearExpiry = false, bool ClearModels = false, bool? RequireSealed = null);

public sealed class DuplicateKeyException() : Exception("A key with this secret already exists.");

/// <summary>
/// API keys in Redis: <c>tee:{keys}:byhash:&lt;sha256&gt;</c> holds the record (one GET per
/// authentication), <c>tee:{keys}:byid:&lt;id&gt;</c> points to the hash, <c>tee:{keys}:ids</c> lists
/// ids. One hash tag keeps them in one cluster slot, so a create is one transaction. Lookups are
/// cached briefly in-process; every change is published on <c>tee:keys:changed</c> so each
/// gateway replica drops its cached copy at once (the TTL bounds it if a message is lost).
/// </summary>
public sealed class ApiKeyStore : IDisposable
{
    private const string Channel = "tee:keys:changed";

    /// <summary>Seconds a cached key record still authenticates while Redis is unreachable.</summary>
    private const long StaleLimit = 300;
    private static readonly RedisKey Ids = "tee:{keys}:ids";
    private readonly ConcurrentDictionary<string, (ApiKeyRecord? Record, long ExpiresAt)> _cache = new(StringComparer.Ordinal);

    // Unknown secrets are cached apart, and only up to GatewayOptions.NegativeCacheSize entries:
    // random keys from an attacker must not grow memory (known keys are bounded by the key count).
    private readonly ConcurrentDictionary<string, long> _misses = new(StringComparer.Ordinal);
    private int _missCount;
    private readonly IConnectionMultiplexer _redis;
    private readonly TimeProvider _time;
    private readonly GatewayOptions _options;
    private readonly ISubscriber _subscriber;

    public ApiKeyStore(IConnectionMultiplexer redis, IOptions<GatewayOptions> options, TimeProvider time)
    {
        _redis = redis;
        _time = time;
        _options = options.Value;
        _subscriber = redis.GetSubscriber();
        Subscribed = SubscribeAsync();
        // After a reconnect, messages may have been missed: drop the whole cache. The subscription
        // itself comes back with the connection — StackExchange.Redis keeps it even when its first
        // try failed (Redis down at start) and sends it again on reconnect (KeysTests.ARevocationArrivesByPublish…).
        redis.ConnectionRestored += (_, _) => ForgetAll();
    }

    /// <summary>
    /// The first try at subscribing to revocations, done when it succeeded or failed (Redis down).
    /// Awaited before the first request (<c>WarmUpGateway</c>); never waited on by a pool thread —
    /// Redis replies are read on the thread pool, so a pool thread blocked on one could starve it.
    /// </summary>
    public Task Subscribed { get; }

    private async Task SubscribeAsync()
    {
        try
        {
            await _subscriber.SubscribeAsync(RedisChannel.Literal(Channel), (_, hash) =>
            {
                _cache.TryRemove(hash.ToString(), out (ApiKeyRecord?, long) _);
                ForgetMiss(hash.ToString());
            }).ConfigureAwait(false);
        }
        catch (RedisException)
        {
            // Redis is down at start: the subscription is made on reconnect; until then the cache TTL bounds staleness.
        }
    }

    private static RedisKey ByHash(string hash) => $"tee:{{keys}}:byhash:{hash}";
    private static RedisKey ById(string id) => $"tee:{{keys}}:byid:{id}";

    /// <summary>
    /// Stores a new key unless its hash is taken, atomically in one script. Not a WATCH transaction:
    /// StackExchange.Redis holds the connection's writer until a condition's reply has arrived, and
    /// with socket I/O on the thread pool that reply may need the very thread that waits (a key
    /// creation timed out on UNWATCH in CI; with inline socket completions 45 of 200 creations were
    /// refused as duplicates and 2 timed out — bench/README.md).
    /// </summary>
    private const string CreateScript = """
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        redis.call('SET', KEYS[1], ARGV[1])
        redis.call('SET', KEYS[2], ARGV[2])
        redis.call('SADD', KEYS[3], ARGV[3])
        return 1
        """;
    private IDatabase Db => _redis.GetDatabase();

    /// <summary>The key for a secret, or null; valid (not revoked, not expired) is the caller's check.</summary>
    /// <summary>How many unknown secrets are cached now (at most <see cref="GatewayOptions.NegativeCacheSize"/>).</summary>
    public int CachedMisses => Volatile.Read(ref _missCount);

    public async Task<ApiKeyRecord?> FindBySecretAsync(string secret)
    {
        var hash = KeySecrets.Hash(secret);
        var now = _time.GetTimestamp();
        if (_misses.TryGetValue(hash, out var missUntil))
        {
            if (missUntil > now) return null;
            ForgetMiss(hash);
        }
        var hit = _cache.TryGetValue(hash, out var cached);
        if (hit && cached.ExpiresAt > now) return cached.Record;
        ApiKeyRecord? record;
        try
        {
            record = Deserialize(await Db.StringGetAsync(ByHash(hash)));
        }
        catch (RedisException) when (hit && now - cached.ExpiresAt < StaleLimit * _time.TimestampFrequency)
        {
            // Redis is down: a key seen in the last minutes keeps working (its record as last seen).
            return cached.Record;
        }
        var until = now + (long)(_options.KeyCacheTtl.TotalSeconds * _time.TimestampFrequency);
        if (record is not null) _cache[hash] = (record, until);
        else RememberMiss(hash, until, now);
        return record;
    }

    public async Task<(ApiKeyRecord Record, string? Secret)> CreateAsync(KeySpec spec, string? importedSecret)
    {
        var secret = importedSecret ?? KeySecrets.Generate();
        var hash = KeySecrets.Hash(secret);
        var limits = _options.DefaultLimits;
        // An imported secret was chosen elsewhere (maybe weak, maybe shared): it is a legacy key, and always expires.
        var legacy = importedSecret is not null;
        var expires = legacy ? spec.ExpiresAt ?? _time.GetUtcNow() + _options.LegacyKeyLifetime : spec.ExpiresAt;
        var record = new ApiKeyRecord(
            KeySecrets.NewId(),
            spec.Name ?? "",
            _time.GetUtcNow(),
            spec.Rpm ?? limits.Rpm,
            spec.Tpm ?? limits.Tpm,
            spec.MaxParallel ?? limits.MaxParallel,
            spec.Models,
            expires,
            Revoked: false,
            RevokedAt: null,
            hash,
            KeySecrets.Hint(secret),
            legacy,
            spec.RequireSealed ?? false);
        var created = await Db.ScriptEvaluateAsync(CreateScript, [ByHash(hash), ById(record.Id), Ids], [Serialize(record), hash, record.Id]);
        if ((long)created == 0) throw new DuplicateKeyException();
        await PublishAsync(hash);
        return (record, importedSecret is null ? secret : null);
    }

    public async Task<ApiKeyRecord?> GetAsync(string id)
    {
        var hash = await Db.StringGetAsync(ById(id));
        return hash.IsNullOrEmpty ? null : Deserialize(await Db.StringGetAsync(ByHash(hash.ToString())));
    }

    public async Task<IReadOnlyList<ApiKeyRecord>> ListAsync()
    {
        var ids = await Db.SetMembersAsync(Ids);
        if (ids.Length == 0) return [];
        var hashes = await Db.StringGetAsync(ids.Select(i => ById(i.ToString())).ToArray());
        var keys = hashes.Where(h => !h.IsNullOrEmpty).Select(h => ByHash(h.ToString())).ToArray();
        var records = keys.Length == 0 ? [] : await Db.StringGetAsync(keys);
        return records.Select(Deserialize).OfType<ApiKeyRecord>().OrderBy(r => r.CreatedAt).ToList();
    }

    public Task<ApiKeyRecord?> UpdateAsync(string id, KeySpec spec) => ChangeAsync(id, r => r with
    {
        Name = spec.Name ?? r.Name,
        Rpm = spec.Rpm ?? r.Rpm,
        Tpm = spec.Tpm ?? r.Tpm,
        MaxParallel = spec.MaxParallel ?? r.MaxParallel,
        Models = spec.ClearModels ? null : spec.Models ?? r.Models,
        ExpiresAt = spec.ClearExpiry ? null : spec.ExpiresAt ?? r.ExpiresAt,
        RequireSealed = spec.RequireSealed ?? r.RequireSealed,
    });

    public Task<ApiKeyRecord?> RevokeAsync(string id) =>
        ChangeAsync(id, r => r.Revoked ? r : r with { Revoked = true, RevokedAt = _time.GetUtcNow() });

    public async Task<KeyUsage> UsageAsync(string id)
    {
        var fields = await Db.HashGetAsync(TeeAspire.Contracts.RedisContract.UsageKey(id), [TeeAspire.Contracts.RedisContract.UsageFields.Requests, TeeAspire.Contracts.RedisContract.UsageFields.PromptTokens, TeeAspire.Contracts.RedisContract.UsageFields.CompletionTokens]);
        return new KeyUsage((long?)fields[0] ?? 0, (long?)fields[1] ?? 0, (long?)fields[2] ?? 0);
    }

    private async Task<ApiKeyRecord?> ChangeAsync(string id, Func<ApiKeyRecord, ApiKeyRecord> change)
    {
        var hash = await Db.StringGetAsync(ById(id));
        if (hash.IsNullOrEmpty) return null;
        var current = Deserialize(await Db.StringGetAsync(ByHash(hash.ToString())));
        if (current is null) return null;
        var updated = change(current);
        await Db.StringSetAsync(ByHash(hash.ToString()), Serialize(updated));
        await PublishAsync(hash.ToString());
        return updated;
    }

    private void RememberMiss(string hash, long until, long now)
    {
        if (Volatile.Read(ref _missCount) >= _options.NegativeCacheSize)
        {
            foreach (var (h, expires) in _misses)
                if (expires <= now) ForgetMiss(h);
            if (Volatile.Read(ref _missCount) >= _options.NegativeCacheSize) return; // full of live entries: don't cache this one
        }
        if (_misses.TryAdd(hash, until)) Interlocked.Increment(ref _missCount);
    }

    private void ForgetMiss(string hash)
    {
        if (_misses.TryRemove(hash, out _)) Interlocked.Decrement(ref _missCount);
    }

    private void ForgetAll()
    {
        _cache.Clear();
        foreach (var h in _misses.Keys) ForgetMiss(h);
    }

    private async Task PublishAsync(string hash)
    {
        _cache.TryRemove(hash, out _);
        ForgetMiss(hash);
        await _subscriber.PublishAsync(RedisChannel.Literal(Channel), hash);
    }

    private static string Serialize(ApiKeyRecord record) => JsonSerializer.Serialize(record, KeyStoreJsonContext.Default.ApiKeyRecord);

    private static ApiKeyRecord? Deserialize(RedisValue value) =>
        value.IsNullOrEmpty ? null : JsonSerializer.Deserialize((string)value!, KeyStoreJsonContext.Default.ApiKeyRecord);

    /// <summary>Unsubscribes without waiting for Redis (and without failing the shutdown when Redis is down).</summary>
    public void Dispose()
    {
        try
        {
            _subscriber.Unsubscribe(RedisChannel.Literal(Channel), flags: CommandFlags.FireAndForget);
        }
        catch (RedisException)
        {
            // Redis is away: the subscription ends with the connection.
        }
    }
}
