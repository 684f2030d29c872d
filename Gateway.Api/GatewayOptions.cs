namespace Gateway.Api;

/// <summary>The <c>Gateway</c> configuration section.</summary>
public sealed class GatewayOptions
{
    public const string Section = "Gateway";

    /// <summary>Largest request body accepted on <c>/v1</c> and <c>/admin</c>, in bytes (413 beyond).</summary>
    public long MaxRequestBytes { get; set; } = 1 << 20;

    /// <summary>How long a key lookup is cached in-process; revocations also arrive by pub/sub at once.</summary>
    public TimeSpan KeyCacheTtl { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Origins allowed to call from a browser (CORS). Empty: none.</summary>
    public string[] CorsOrigins { get; set; } = [];

    /// <summary>Limits for keys created without their own.</summary>
    public KeyLimits DefaultLimits { get; set; } = new();

    /// <summary>How long the worker may take to start answering (it queues and loads models).</summary>
    public TimeSpan UpstreamTimeout { get; set; } = TimeSpan.FromSeconds(200);

    /// <summary>
    /// The local port of the admin listener (add it to <c>ASPNETCORE_URLS</c>, e.g. <c>http://127.0.0.1:8081</c>).
    /// <c>/admin/*</c> answers only on this port and is 404 on every other; unset, the admin API is off.
    /// </summary>
    public int? AdminPort { get; set; }

    /// <summary>
    /// TCP peers (IPs or CIDR ranges, e.g. <c>127.0.0.1</c> where cloudflared runs on the host) whose
    /// <c>CF-Connecting-IP</c> / <c>X-Forwarded-For</c> name the real client. Empty (default): the
    /// TCP peer is the client and forwarded headers are ignored.
    /// </summary>
    public string[] TrustedProxies { get; set; } = [];

    /// <summary>Failed API-key authentications (401) per client IP per minute before further attempts get 429.</summary>
    public int AuthFailuresPerMinute { get; set; } = 20;

    /// <summary>Failed master-key authentications per client IP per minute before further attempts get 429.</summary>
    public int AdminAuthFailuresPerMinute { get; set; } = 5;

    /// <summary>Most unknown-key lookups remembered in-process (a bound on memory against random keys).</summary>
    public int NegativeCacheSize { get; set; } = 10_000;

    /// <summary>Expiry given to imported (legacy) keys when the request sets none.</summary>
    public TimeSpan LegacyKeyLifetime { get; set; } = TimeSpan.FromDays(90);
}

public sealed class KeyLimits
{
    public int Rpm { get; set; } = 60;
    public int Tpm { get; set; } = 100_000;
    public int MaxParallel { get; set; } = 8;
}
