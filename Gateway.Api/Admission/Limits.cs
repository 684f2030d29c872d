using System.Globalization;
using System.Threading.RateLimiting;
using Gateway.Api.Model;
using Microsoft.Extensions.Options;
using RateLimit.Store;
using StackExchange.Redis;
using TeeAspire.OpenAi;

using Gateway.Api.Keys;

namespace Gateway.Api.Admission;

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
/// concurrent requests (chat completions), decided together in one Redis round trip — and per-IP
/// limits on the public routes, all shared by every gateway replica through Redis. The worker
/// debits actual tokens after each answer.
/// </summary>
public sealed partial class Limits : IDisposable
{
    private const string KeyPrefix = RedisRateLimiterOptions.DefaultKeyPrefix;
    private readonly RedisKeyLimiter _keys;
    private readonly PartitionedRateLimiter<string> _perIp;
    private readonly ILogger<Limits> _logger;
    private long _lastDegradedLog;

    public Limits(IConnectionMultiplexer redis, IOptions<RateLimitOptions> options, ILogger<Limits> logger)
    {
        _logger = logger;
        var policy = options.Value.RedisFailure;
        var publicRpm = options.Value.PublicRpmPerIp;
        // Limits travel with each call, so a PATCH takes effect at once while counts in Redis carry over.
        _keys = new RedisKeyLimiter(new RedisKeyLimiterOptions { Connection = redis, KeyPrefix = KeyPrefix, FailurePolicy = policy });
        _perIp = PartitionedRateLimiter.Create<string, string>(ip => RedisRateLimitPartition.GetSlidingWindowLimiter(ip,
            _ => new RedisSlidingWindowRateLimiterOptions { Connection = redis, KeyPrefix = KeyPrefix, Partition = "ip:" + ip, PermitLimit = publicRpm, FailurePolicy = policy }));
    }

    /// <summary>
    /// Admits a <c>/v1</c> call in one Redis call: requests/min always; with <paramref name="generates"/>
    /// (chat completions) also tokens/min and a concurrency lease that lives until the response ends.
    /// A chat completion must also fit its prompt's estimate (<see cref="Apis.OpenAiApi.ChatBodyFilter.PromptEstimate"/>)
    /// in the token budget, and admission takes it (<see cref="ReservedTokens"/> tells the worker).
    /// Null if admitted, else the error to send.
    /// </summary>
    public async Task<IResult?> AdmitAsync(HttpContext context, ApiKeyRecord key, bool generates)
    {
        var reserve = generates ? Apis.OpenAiApi.ChatBodyFilter.PromptEstimate(context) : 0;
        var admission = await _keys.AdmitAsync(RedisRateLimitPartition.ForApiKey(key.Id), new RateLimit.Store.KeyLimits(key.Rpm, key.Tpm, key.MaxParallel), generates, reserve, context.RequestAborted);
        if (admission.Degraded) LogDegradedOnce();
        if (!admission.Unavailable)
        {
            WriteHeaders(context, RequestHeaders, admission.Requests);
            if (admission.Tokens is { } tokens) WriteHeaders(context, TokenHeaders, tokens);
        }
        if (admission.IsAcquired)
        {
            // Released when the response is done: one Redis command, sent without waiting.
            if (generates) context.Response.RegisterForDispose(admission);
            if (admission.ReservedTokens > 0) context.Items[ReservedItem] = admission.ReservedTokens;
            return null;
        }
        if (admission.Unavailable)
            return OpenAiErrors.ServiceUnavailable("The rate limiter is unavailable; retry shortly.", "rate_limiter_unavailable");
        return admission.RefusedBy switch
        {
            KeyLimit.Tokens => TooMany(context, admission.RetryAfter, "tokens", $"Rate limit reached for tokens per minute (limit {key.Tpm})."),
            KeyLimit.Concurrency => TooMany(context, admission.RetryAfter, "concurrency", $"Too many concurrent requests for this key (limit {key.MaxParallel})."),
            _ => TooMany(context, admission.RetryAfter, "requests", $"Rate limit reached for requests per minute (limit {key.Rpm})."),
        };
    }

    private const string ReservedItem = "tee.tokens_reserved";

    /// <summary>Tokens this request's admission took from the budget in Redis (0 if none), for the worker to subtract from its debit.</summary>
    public static long ReservedTokens(HttpContext context) => context.Items[ReservedItem] is long reserved ? reserved : 0;

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
        return TooMany(context, lease.RetryAfter, kind, message);
    }

    private static IResult TooMany(HttpContext context, TimeSpan? retryAfter, string kind, string message)
    {
        var retry = retryAfter ?? TimeSpan.FromMinutes(1);
        var seconds = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds));
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        context.Response.Headers["retry-after-ms"] = ((long)Math.Ceiling(retry.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture);
        return OpenAiErrors.Result(429, $"{message} Retry after {seconds} s.", kind, null, "rate_limit_exceeded");
    }

    // OpenAI's x-ratelimit-* names, built once rather than per request.
    private static readonly (string Limit, string Remaining, string Reset) RequestHeaders = ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests");
    private static readonly (string Limit, string Remaining, string Reset) TokenHeaders = ("x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens");

    private static void WriteHeaders(HttpContext context, (string Limit, string Remaining, string Reset) names, RedisRateLimitLease lease)
    {
        var headers = context.Response.Headers;
        headers[names.Limit] = lease.Limit.ToString(CultureInfo.InvariantCulture);
        headers[names.Remaining] = lease.Remaining.ToString(CultureInfo.InvariantCulture);
        headers[names.Reset] = Duration(lease.Reset);
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
        _keys.Dispose();
        _perIp.Dispose();
    }
}
