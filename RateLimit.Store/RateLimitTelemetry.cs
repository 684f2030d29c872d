using System.Diagnostics.Metrics;

namespace RateLimit.Store;

/// <summary>Metrics of every limiter: decisions by outcome, and Redis failures (a warning signal under FailOpen).</summary>
internal static class RateLimitTelemetry
{
    public const string MeterName = "TeeAspire.RateLimit";
    private static readonly Meter Meter = new(MeterName);

    public static readonly Counter<long> Decisions = Meter.CreateCounter<long>("tee.ratelimit.decisions", "{decision}", "Limiter decisions by limiter and outcome");
    public static readonly Counter<long> RedisFailures = Meter.CreateCounter<long>("tee.ratelimit.redis_failures", "{failure}", "Decisions Redis could not make");

    public static void Decided(string limiter, RedisRateLimitLease lease) => Decided(limiter, lease.IsAcquired, lease.Degraded, lease.Unavailable);

    public static void Decided(string limiter, bool acquired, bool degraded, bool unavailable) =>
        Decisions.Add(1, new KeyValuePair<string, object?>("limiter", limiter),
            new KeyValuePair<string, object?>("outcome", unavailable ? "unavailable" : degraded ? (acquired ? "degraded_granted" : "degraded_denied") : acquired ? "granted" : "denied"));
}
