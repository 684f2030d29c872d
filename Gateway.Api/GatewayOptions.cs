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
}

public sealed class KeyLimits
{
    public int Rpm { get; set; } = 60;
    public int Tpm { get; set; } = 100_000;
    public int MaxParallel { get; set; } = 8;
}
