using System.Collections.Concurrent;
using System.Net;

using Gateway.Api.Keys;

namespace Gateway.Api.Edge;

/// <summary>
/// Counts failed authentications per client IP in one-minute windows (per replica, in memory):
/// past the limit, further attempts from that IP get 429 until the window ends — whether their
/// key is right or not, so guessing gains nothing. The table is bounded: when full it is cleared
/// (an attacker with more addresses than the bound is throttled less, never grows memory).
/// </summary>
public sealed class AuthFailureThrottle(int perMinute, TimeProvider time, int maxSources = 100_000)
{
    private readonly ConcurrentDictionary<IPAddress, Window> _windows = new();

    private sealed class Window(long start)
    {
        public long Start = start;
        public int Failures;
    }

    /// <summary>Seconds until this source may try again, or 0 when it may try now.</summary>
    public int RetryAfter(IPAddress? source)
    {
        if (perMinute <= 0 || source is null || !_windows.TryGetValue(source, out var w)) return 0;
        var elapsed = time.GetElapsedTime(Volatile.Read(ref w.Start));
        if (elapsed >= TimeSpan.FromMinutes(1)) return 0;
        return Volatile.Read(ref w.Failures) >= perMinute ? Math.Max(1, (int)Math.Ceiling((TimeSpan.FromMinutes(1) - elapsed).TotalSeconds)) : 0;
    }

    public void RecordFailure(IPAddress? source)
    {
        if (perMinute <= 0 || source is null) return;
        if (_windows.Count >= maxSources) _windows.Clear();
        var now = time.GetTimestamp();
        var w = _windows.GetOrAdd(source, _ => new Window(now));
        lock (w)
        {
            if (time.GetElapsedTime(w.Start) >= TimeSpan.FromMinutes(1))
            {
                w.Start = now;
                w.Failures = 0;
            }
            w.Failures++;
        }
    }
}

/// <summary>The two throttles: bad API keys on <c>/v1</c>, bad master keys on <c>/admin</c>.</summary>
public sealed class AuthThrottles(Microsoft.Extensions.Options.IOptions<GatewayOptions> options, TimeProvider time)
{
    public AuthFailureThrottle ApiKeys { get; } = new(options.Value.AuthFailuresPerMinute, time);
    public AuthFailureThrottle Admin { get; } = new(options.Value.AdminAuthFailuresPerMinute, time);
}
