using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace TeeAspire.Tests;

/// <summary>Attestation.Api with a real swtpm and a real redis-server: in a test host, or on real Kestrel for other services to call.</summary>
public sealed class AttestationHost : IAsyncDisposable
{
    public const string InternalToken = InternalAuth.Token;

    private AttestationHost(SwtpmServer tpm, RedisServer redis, WebApplicationFactory<Program> factory, Uri? url)
    {
        Tpm = tpm;
        Redis = redis;
        Factory = factory;
        Url = url;
    }

    public SwtpmServer Tpm { get; }
    public RedisServer Redis { get; }
    public WebApplicationFactory<Program> Factory { get; }

    /// <summary>The real address when started with <c>kestrel: true</c>.</summary>
    public Uri? Url { get; }

    public static async Task<AttestationHost> StartAsync(IDictionary<string, string?>? settings = null, bool kestrel = false)
    {
        var tpm = await SwtpmServer.StartAsync();
        var redis = await RedisServer.StartAsync();
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                var port = FreePort.Next();
                var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(b =>
                {
                    b.UseSetting("ConnectionStrings:redis", redis.ConnectionString);
                    b.UseSetting("Attestation:Tpm:Tcti", tpm.Tcti);
                    b.UseSetting("Attestation:InternalToken", InternalToken);
                    foreach (var (k, v) in settings ?? new Dictionary<string, string?>()) b.UseSetting(k, v);
                });
                if (kestrel)
                {
                    factory.UseKestrel(o => o.Listen(System.Net.IPAddress.Loopback, port));
                    try
                    {
                        factory.StartServer();
                    }
                    catch (IOException) when (attempt < 5)
                    {
                        await factory.DisposeAsync();
                        continue;
                    }
                }
                var host = new AttestationHost(tpm, redis, factory, kestrel ? new Uri($"http://127.0.0.1:{port}") : null);
                try
                {
                    await host.WaitReadyAsync();
                }
                catch
                {
                    try { await factory.DisposeAsync(); } catch (Exception) { /* the start failure is what the caller sees */ }
                    throw;
                }
                return host;
            }
        }
        catch
        {
            // A host that does not start (a test of exactly that) must not leave its swtpm and
            // redis-server running after the test run.
            await tpm.DisposeAsync();
            await redis.DisposeAsync();
            throw;
        }
    }

    private async Task WaitReadyAsync()
    {
        using var http = Client();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await http.GetAsync("/health")).StatusCode != System.Net.HttpStatusCode.OK)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the attestation service did not become ready");
            await Task.Delay(50);
        }
    }

    /// <summary>A client as the gateway is: every call carries the internal token.</summary>
    public HttpClient Client()
    {
        var http = Outsider();
        http.DefaultRequestHeaders.Add(InternalAuth.Header, InternalToken);
        return http;
    }

    /// <summary>A client as anyone else on the network is: no internal token.</summary>
    public HttpClient Outsider() => Url is null ? Factory.CreateClient() : new HttpClient { BaseAddress = Url, Timeout = TimeSpan.FromSeconds(60) };

    public async Task<JsonObject> ReportAsync(string? nonceHex = null)
    {
        using var http = Client();
        return (await http.GetFromJsonAsync<JsonObject>(nonceHex is null ? "/attestation" : $"/attestation?nonce={nonceHex}"))!;
    }

    /// <summary><c>POST /internal/keys</c> with the internal token (or another one).</summary>
    public async Task<HttpResponseMessage> RegisterAsync(string purpose, string alg, byte[] publicKey, string instance = "test-1", string? token = InternalToken)
    {
        using var http = Outsider();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/internal/keys")
        {
            Content = JsonContent.Create(new Dictionary<string, string>
            {
                ["purpose"] = purpose, ["alg"] = alg, ["public_key"] = Convert.ToBase64String(publicKey), ["service"] = "test", ["instance"] = instance,
            }),
        };
        if (token is not null) request.Headers.Add("x-tee-internal-token", token);
        return await http.SendAsync(request);
    }

    /// <summary>Registers a fresh P-256 answer-signing key (as a worker would) and returns its SPKI.</summary>
    public async Task<byte[]> RegisterSigningKeyAsync()
    {
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var spki = key.ExportSubjectPublicKeyInfo();
        using var response = await RegisterAsync("answer-signing", "ES256", spki);
        response.EnsureSuccessStatusCode();
        return spki;
    }

    public async ValueTask DisposeAsync()
    {
        await Factory.DisposeAsync();
        await Tpm.DisposeAsync();
        await Redis.DisposeAsync();
    }
}
