using System.Globalization;
using System.Threading.RateLimiting;
using Gateway.Api.Model;
using Microsoft.Extensions.Options;
using RateLimit.Store;
using StackExchange.Redis;
using TeeAspire.OpenAi;

namespace Gateway.Api.Services;

/// <summary>The <c>RateLimit</c> configuration section.</summary>
public sealed class RateLimitOptions
{
    public const string Section = "RateLimit";

    /// <summary>FailOpen (default): decide per replica in-process while Redis is down. FailClosed: 503.</summary>
    public RedisFailurePolicy RedisFailure { get; set; } = RedisFailurePolicy.FailOpen;

    /// <summary>Requests per minute per client IP on the public routes (<c>/attestation</c>).</summary>
    public int PublicRpmPerIp { get; set; } = 60;
}

/// <summary>
/// Per-key limits from the key record — requests/min (every <c>/v1</c> call), tokens/min and
/// concurrent requests (chat completions) — and per-IP limits on the public routes, all shared by
/// every gateway replica through Redis. The worker debits actual tokens after each answer.
/// </summary>
public sealed partial class Limits : IDisposable
{
    private const string KeyPrefix = RedisRateLimiterOptions.DefaultKeyPrefix;
    private readonly PartitionedRateLimiter<ApiKeyRecord> _requests;
    private readonly PartitionedRateLimiter<ApiKeyRecord> _tokens;
    private readonly PartitionedRateLimiter<ApiKeyRecord> _parallel;
    private readonly PartitionedRateLimiter<string> _perIp;
    private readonly ILogger<Limits> _logger;
    private long _lastDegradedLog;

    public Limits(IConnectionMultiplexer redis, IOptions<RateLimitOptions> options, ILogger<Limits> logger)
    {
        _logger = logger;
        var policy = options.Value.RedisFailure;
        var publicRpm = options.Value.PublicRpmPerIp;
        // The in-process partition includes the limit, so a PATCH takes effect at once; the Redis key does not, so counts carry over.
        _requests = PartitionedRateLimiter.Create<ApiKeyRecord, string>(k => RedisRateLimitPartition.GetSlidingWindowLimiter($"{k.Id}:{k.Rpm}",
            _ => new RedisSlidingWindowRateLimiterOptions { Connection = redis, KeyPrefix = KeyPrefix, Partition = RedisRateLimitPartition.ForApiKey(k.Id), PermitLimit = k.Rpm, FailurePolicy = policy }));
        _tokens = PartitionedRateLimiter.Create<ApiKeyRecord, string>(k => RedisRateLimitPartition.GetTokenBudgetLimiter($"{k.Id}:{k.Tpm}",
            _ => new RedisTokenBudgetRateLimiterOptions { Connection = redis, KeyPrefix = KeyPrefix, Partition = RedisRateLimitPartition.ForApiKey(k.Id), TokenLimit = k.Tpm, FailurePolicy = policy }));
        _parallel = PartitionedRateLimiter.Create<ApiKeyRecord, string>(k => RedisRateLimitPartition.GetConcurrencyLimiter($"{k.Id}:{k.MaxParallel}",
            _ => new RedisConcurrencyRateLimiterOptions { Connection = redis, KeyPrefix = KeyPrefix, Partition = RedisRateLimitPartition.ForApiKey(k.Id), PermitLimit = k.MaxParallel, FailurePolicy = policy }));
        _perIp = PartitionedRateLimiter.Create<string, string>(ip => RedisRateLimitPartition.GetSlidingWindowLimiter(ip,
            _ => new RedisSlidingWindowRateLimiterOptions { Connection = redis, KeyPrefix = KeyPrefix, Partition = "ip:" + ip, PermitLimit = publicRpm, FailurePolicy = policy }));
    }

    /// <summary>Requests per minute for any authenticated call; null if admitted, else the error to send.</summary>
    public async Task<IResult?> AdmitRequestAsync(HttpContext context, ApiKeyRecord key)
    {
        var lease = (RedisRateLimitLease)await _requests.AcquireAsync(key, 1, context.RequestAborted);
        WriteHeaders(context, "requests", lease);
        return Refusal(context, lease, "requests", $"Rate limit reached for requests per minute (limit {key.Rpm}).");
    }

    /// <summary>Tokens per minute and concurrency for a chat completion; the concurrency lease lives until the response ends.</summary>
    public async Task<IResult?> AdmitCompletionAsync(HttpContext context, ApiKeyRecord key)
    {
        var tokens = (RedisRateLimitLease)await _tokens.AcquireAsync(key, 0, context.RequestAborted);
        WriteHeaders(context, "tokens", tokens);
        if (Refusal(context, tokens, "tokens", $"Rate limit reached for tokens per minute (limit {key.Tpm}).") is { } refused) return refused;
        var parallel = (RedisRateLimitLease)await _parallel.AcquireAsync(key, 1, context.RequestAborted);
        if (!parallel.IsAcquired)
            return Refusal(context, parallel, "concurrency", $"Too many concurrent requests for this key (limit {key.MaxParallel}).");
        context.Response.RegisterForDispose(parallel);
        return null;
    }

    /// <summary>Per client IP, for the public routes.</summary>
    public async Task<IResult?> AdmitPublicAsync(HttpContext context)
    {
        var ip = context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        var lease = (RedisRateLimitLease)await _perIp.AcquireAsync(ip, 1, context.RequestAborted);
        return Refusal(context, lease, "requests", "Rate limit reached for this address.");
    }

    private IResult? Refusal(HttpContext context, RedisRateLimitLease lease, string kind, string message)
    {
        if (lease.Degraded) LogDegradedOnce();
        if (lease.IsAcquired) return null;
        if (lease.Unavailable)
            return OpenAiErrors.ServiceUnavailable("The rate limiter is unavailable; retry shortly.", "rate_limiter_unavailable");
        var retry = lease.RetryAfter ?? TimeSpan.FromMinutes(1);
        var seconds = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds));
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        context.Response.Headers["retry-after-ms"] = ((long)Math.Ceiling(retry.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture);
        return OpenAiErrors.Result(429, $"{message} Retry after {seconds} s.", kind, null, "rate_limit_exceeded");
    }

    private static void WriteHeaders(HttpContext context, string kind, RedisRateLimitLease lease)
    {
        var headers = context.Response.Headers;
        headers[$"x-ratelimit-limit-{kind}"] = lease.Limit.ToString(CultureInfo.InvariantCulture);
        headers[$"x-ratelimit-remaining-{kind}"] = lease.Remaining.ToString(CultureInfo.InvariantCulture);
        headers[$"x-ratelimit-reset-{kind}"] = Duration(lease.Reset);
    }

    /// <summary>OpenAI's reset format: <c>20ms</c>, <c>1.5s</c>, <c>6m0s</c>.</summary>
    public static string Duration(TimeSpan span)
    {
        if (span < TimeSpan.FromSeconds(1)) return $"{Math.Ceiling(span.TotalMilliseconds):0}ms";
        if (span < TimeSpan.FromMinutes(1)) return $"{Math.Round(span.TotalSeconds, 3).ToString(CultureInfo.InvariantCulture)}s";
        return $"{(int)span.TotalMinutes}m{Math.Round(span.TotalSeconds % 60, 3).ToString(CultureInfo.InvariantCulture)}s";
    }

    private void LogDegradedOnce()
    {
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastDegradedLog);
        if (now - last > 30_000 && Interlocked.CompareExchange(ref _lastDegradedLog, now, last) == last) LogDegraded();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis is unreachable: rate limits are enforced per gateway replica in-process until it returns")]
    private partial void LogDegraded();

    public void Dispose()
    {
        _requests.Dispose();
        _tokens.Dispose();
        _parallel.Dispose();
        _perIp.Dispose();
    }
}
