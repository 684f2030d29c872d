using System.Collections.Concurrent;
using System.Net;

using Gateway.Api.Keys;

namespace Gateway.Api.Edge;

/// <summary>
/// Counts failed authentications per client IP in one-minute windows (per replica, in memory):
/// past the limit, further failures from that IP get 429 with a Retry-After until the window ends.
/// Only failures: a credential that authenticates is never refused here, so a stranger's guesses
/// cannot lock out the clients that share an address. Guessing still gains nothing — the secrets
/// are 256-bit. The table is bounded: when full it is cleared (an attacker with more addresses
/// than the bound is throttled less, never grows memory).
/// </summary>
public sealed class AuthFailureThrottle(int perMinute, TimeProvider time, int maxSources = 100_000)
{
    private readonly ConcurrentDictionary<IPAddress, Window> _windows = new();

    private sealed class Window(long start)
    {
        public long Start = start;
        public int Failures;
    }

    /// <summary>Counts one failure; the seconds this source should wait before trying again when it is past the limit, else 0.</summary>
    public int RecordFailure(IPAddress? source)
    {
        if (perMinute <= 0 || source is null) return 0;
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
            if (w.Failures <= perMinute) return 0;
            var left = TimeSpan.FromMinutes(1) - time.GetElapsedTime(w.Start);
            return Math.Max(1, (int)Math.Ceiling(left.TotalSeconds));
        }
    }
}

/// <summary>The two throttles: bad API keys on <c>/v1</c>, bad master keys on <c>/admin</c>.</summary>
public sealed class AuthThrottles(Microsoft.Extensions.Options.IOptions<GatewayOptions> options, TimeProvider time)
{
    public AuthFailureThrottle ApiKeys { get; } = new(options.Value.AuthFailuresPerMinute, time);
    public AuthFailureThrottle Admin { get; } = new(options.Value.AdminAuthFailuresPerMinute, time);
}
