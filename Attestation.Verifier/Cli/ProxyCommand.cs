using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace TeeAspire.Attestation.Verifier.Cli;

/// <summary>
/// <c>tee-verify proxy</c>: a local OpenAI-compatible endpoint that verifies the service before
/// the first request, seals every request body to the attested key and passes on only answers
/// whose signature verifies against the attested key set.
/// </summary>
public static class ProxyCommand
{
    public const string DefaultListen = "127.0.0.1:8787";

    public static async Task<int> RunAsync(string url, string listen, VerifierOptions options, CancellationToken ct)
    {
        var service = Commands.Service(url);
        var endpoint = ParseListen(listen);
        var loaded = Commands.Load(options);
        // One long-lived transport for everything sent to the service (as a forwarder should): no redirects, cookies or decompression.
        var transport = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(30),
        };
        var plain = new HttpClient(transport, disposeHandler: false) { Timeout = TimeSpan.FromSeconds(120) };
        var attestation = new ProxyAttestation(service, loaded, transport, plain, Console.Out);
        string state;
        try
        {
            state = $"verified: {(await attestation.RefreshAsync(null, ct)).Platform}";
        }
        catch (ProxyFailure refused)
        {
            state = $"REFUSED: {refused.Code}; every request is answered {refused.Status} until a fresh report verifies";
        }

        await using var app = Build(endpoint, new ProxyForwarder(attestation, plain, Console.Error));
        await app.StartAsync(ct);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        if (!IPAddress.IsLoopback(endpoint.Address))
            Console.Error.WriteLine($"WARNING: listening on {endpoint.Address}, not loopback: whoever reaches it can send requests through this proxy (with their own API key)");
        Console.WriteLine($"PROXY {address} -> {service.GetLeftPart(UriPartial.Authority)} ({state})");
        await app.WaitForShutdownAsync(ct);
        return Cli.Verified;
    }

    private static WebApplication Build(IPEndPoint endpoint, ProxyForwarder forwarder)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        // The proxy prints its own lines; no framework logging (it could only add noise, never content).
        builder.Logging.ClearProviders();
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = null; // the forwarder caps sealed bodies itself
            kestrel.Listen(endpoint);
        });
        var app = builder.Build();
        app.MapPost("/v1/chat/completions", forwarder.ChatAsync);
        app.MapGet("/v1/models", forwarder.ModelsAsync);
        app.MapGet("/v1/models/{id}", forwarder.ModelsAsync);
        app.MapFallback(ProxyForwarder.UnknownAsync);
        return app;
    }

    /// <summary><c>host:port</c> with an IP address (or <c>localhost</c>); IPv6 in brackets. Port 0 picks a free port.</summary>
    internal static IPEndPoint ParseListen(string listen)
    {
        var text = listen.StartsWith("http://", StringComparison.OrdinalIgnoreCase) ? listen["http://".Length..].TrimEnd('/') : listen;
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !ushort.TryParse(text[(colon + 1)..], out var port))
            throw new UsageException($"--listen {listen}: expected host:port, e.g. {DefaultListen}");
        var host = text[..colon].Trim('[', ']');
        var address = host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback
            : IPAddress.TryParse(host, out var ip) ? ip
            : throw new UsageException($"--listen {listen}: the host must be an IP address or localhost");
        return new IPEndPoint(address, port);
    }
}
