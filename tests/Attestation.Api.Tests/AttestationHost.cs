using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Mvc.Testing;

namespace TeeAspire.Tests;

/// <summary>Attestation.Api in a test host with a real swtpm and a real redis-server.</summary>
public sealed class AttestationHost : IAsyncDisposable
{
    public const string InternalToken = InternalAuth.Token;

    private AttestationHost(SwtpmServer tpm, RedisServer redis, WebApplicationFactory<Program> factory)
    {
        Tpm = tpm;
        Redis = redis;
        Factory = factory;
    }

    public SwtpmServer Tpm { get; }
    public RedisServer Redis { get; }
    public WebApplicationFactory<Program> Factory { get; }

    public static async Task<AttestationHost> StartAsync(IDictionary<string, string?>? settings = null)
    {
        var tpm = await SwtpmServer.StartAsync();
        var redis = await RedisServer.StartAsync();
        var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(b =>
        {
            b.UseSetting("ConnectionStrings:redis", redis.ConnectionString);
            b.UseSetting("Attestation:Tpm:Tcti", tpm.Tcti);
            b.UseSetting("Attestation:InternalToken", InternalToken);
            foreach (var (k, v) in settings ?? new Dictionary<string, string?>()) b.UseSetting(k, v);
        });
        var host = new AttestationHost(tpm, redis, factory);
        try
        {
            await host.WaitReadyAsync();
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
        return host;
    }

    private async Task WaitReadyAsync()
    {
        using var http = Factory.CreateClient();
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
        var http = Factory.CreateClient();
        http.DefaultRequestHeaders.Add(InternalAuth.Header, InternalToken);
        return http;
    }

    /// <summary>A client as anyone else on the network is: no internal token.</summary>
    public HttpClient Outsider() => Factory.CreateClient();

    public async Task<JsonObject> ReportAsync(string? nonceHex = null)
    {
        using var http = Client();
        return (await http.GetFromJsonAsync<JsonObject>(nonceHex is null ? "/attestation" : $"/attestation?nonce={nonceHex}"))!;
    }

    public async ValueTask DisposeAsync()
    {
        await Factory.DisposeAsync();
        await Tpm.DisposeAsync();
        await Redis.DisposeAsync();
    }
}
