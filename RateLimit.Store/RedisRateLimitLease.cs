using System.Threading.RateLimiting;

namespace RateLimit.Store;

/// <summary>
/// A decision with what clients are told about it: the limit, what remains, when the window
/// resets and, when refused, when to retry. <see cref="RateLimitLease.TryGetMetadata(string, out object?)"/>
/// answers <see cref="MetadataName.RetryAfter"/> and the names in <see cref="RedisRateLimitLease.Names"/>.
/// </summary>
public sealed class RedisRateLimitLease : RateLimitLease
{
    /// <summary>Metadata names beyond the BCL's <see cref="MetadataName.RetryAfter"/>.</summary>
    public static class Names
    {
        public const string Limit = "RATELIMIT_LIMIT";
        public const string Remaining = "RATELIMIT_REMAINING";
        public const string Reset = "RATELIMIT_RESET";
        public const string Degraded = "RATELIMIT_DEGRADED";
    }

    private readonly Action? _release;
    private int _disposed;

    internal RedisRateLimitLease(bool acquired, long limit, long remaining, TimeSpan reset, TimeSpan? retryAfter, bool degraded = false, bool unavailable = false, Action? release = null)
    {
        IsAcquired = acquired;
        Limit = limit;
        Remaining = Math.Max(0, remaining);
        Reset = reset < TimeSpan.Zero ? TimeSpan.Zero : reset;
        RetryAfter = retryAfter;
        Degraded = degraded;
        Unavailable = unavailable;
        _release = release;
    }

    public override bool IsAcquired { get; }
    public long Limit { get; }
    public long Remaining { get; }

    /// <summary>Time until the limit is back to its initial state.</summary>
    public TimeSpan Reset { get; }

    /// <summary>When refused: how long until the same request could succeed; null if it never can (asks for more than the limit).</summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>Decided in-process because Redis was unreachable (<see cref="RedisFailurePolicy.FailOpen"/>).</summary>
    public bool Degraded { get; }

    /// <summary>Refused because Redis was unreachable (<see cref="RedisFailurePolicy.FailClosed"/>).</summary>
    public bool Unavailable { get; }

    public override IEnumerable<string> MetadataNames =>
        RetryAfter is null ? [Names.Limit, Names.Remaining, Names.Reset, Names.Degraded] : [MetadataName.RetryAfter.Name, Names.Limit, Names.Remaining, Names.Reset, Names.Degraded];

    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        metadata = metadataName switch
        {
            _ when metadataName == MetadataName.RetryAfter.Name => RetryAfter,
            Names.Limit => Limit,
            Names.Remaining => Remaining,
            Names.Reset => Reset,
            Names.Degraded => Degraded,
            _ => null,
        };
        return metadata is not null;
    }

    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) _release?.Invoke();
    }
}
