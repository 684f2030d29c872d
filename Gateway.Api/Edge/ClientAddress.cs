using System.Net;
using Microsoft.Extensions.Options;

using Gateway.Api.Keys;

namespace Gateway.Api.Edge;

/// <summary>
/// Makes <see cref="ConnectionInfo.RemoteIpAddress"/> the real client when — and only when — the
/// TCP peer is a configured trusted proxy (<see cref="GatewayOptions.TrustedProxies"/>):
/// cloudflared's <c>CF-Connecting-IP</c> first, else the right-most <c>X-Forwarded-For</c> entry
/// that is not itself a trusted proxy. From any other peer the headers are ignored, so a client
/// cannot pick its own per-IP partition. (ASP.NET Core's ForwardedHeadersMiddleware has the same
/// rule for X-Forwarded-For but no CF-Connecting-IP; one place here handles both.)
/// </summary>
public sealed class ClientAddress
{
    public const string CloudflareHeader = "CF-Connecting-IP";
    private readonly IPNetwork[] _trusted;

    public ClientAddress(IOptions<GatewayOptions> options)
    {
        _trusted = options.Value.TrustedProxies.Select(Parse).ToArray();
    }

    private static IPNetwork Parse(string value) =>
        value.Contains('/') ? IPNetwork.Parse(value)
        : IPAddress.TryParse(value, out var ip) ? new IPNetwork(ip, ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128)
        : throw new InvalidOperationException($"Gateway:TrustedProxies: '{value}' is not an IP address or CIDR range.");

    public bool IsTrusted(IPAddress? peer)
    {
        if (peer is null || _trusted.Length == 0) return false;
        if (peer.IsIPv4MappedToIPv6) peer = peer.MapToIPv4();
        foreach (var n in _trusted) if (n.Contains(peer)) return true;
        return false;
    }

    /// <summary>The client for this request: the forwarded one from a trusted proxy, else the peer.</summary>
    public IPAddress? Resolve(HttpContext context)
    {
        var peer = context.Connection.RemoteIpAddress;
        if (!IsTrusted(peer)) return peer;
        var request = context.Request.Headers;
        if (request.TryGetValue(CloudflareHeader, out var cf) && IPAddress.TryParse(cf.ToString().Trim(), out var cfIp)) return cfIp;
        // X-Forwarded-For: each proxy appends; walk from the right past our own trusted proxies.
        var hops = request["X-Forwarded-For"].SelectMany(v => (v ?? "").Split(',')).Select(h => h.Trim()).ToArray();
        for (var i = hops.Length - 1; i >= 0; i--)
        {
            if (!IPAddress.TryParse(hops[i], out var hop)) return peer;
            if (!IsTrusted(hop)) return hop;
        }
        return peer;
    }
}

public static class ClientAddressExtensions
{
    /// <summary>Rewrites the remote address from trusted proxies' headers (first in the pipeline).</summary>
    public static WebApplication UseClientAddress(this WebApplication app)
    {
        var resolver = app.Services.GetRequiredService<ClientAddress>();
        app.Use((context, next) =>
        {
            context.Connection.RemoteIpAddress = resolver.Resolve(context);
            return next(context);
        });
        return app;
    }
}
