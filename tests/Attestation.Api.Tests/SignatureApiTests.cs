using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using StackExchange.Redis;
using TeeAspire.Contracts;

namespace TeeAspire.Tests;

/// <summary><c>GET /v1/signature/{id}</c> serves what the worker stored, to the key that made the completion only.</summary>
public sealed class SignatureApiTests
{
    [Fact]
    public async Task TheOwnerGetsTheStoredSignatureWithCreatedAndNonceAndOthersGet404()
    {
        await using var host = await AttestationHost.StartAsync();
        var stored = new StoredSignature("chatcmpl-abc123", 1764000000, "tee-aspire/answer/v1\n…", "c2ln", "ecdsa-p256-sha256", new string('a', 64), new string('0', 32), "key_abc");
        await using (var mux = await ConnectionMultiplexer.ConnectAsync(host.Redis.ConnectionString))
            await mux.GetDatabase().StringSetAsync(RedisContract.SignatureKey(stored.Id), JsonSerializer.Serialize(stored, ContractJsonContext.Default.StoredSignature));
        using var http = host.Client();
        using var owner = new HttpRequestMessage(HttpMethod.Get, "/v1/signature/chatcmpl-abc123") { Headers = { { "x-tee-key-id", "key_abc" } } };
        using var other = new HttpRequestMessage(HttpMethod.Get, "/v1/signature/chatcmpl-abc123") { Headers = { { "x-tee-key-id", "key_other" } } };

        var fetched = await (await http.SendAsync(owner, TestContext.Current)).Content.ReadFromJsonAsync<JsonObject>(TestContext.Current);
        using var refused = await http.SendAsync(other, TestContext.Current);

        Assert.Equal(1764000000, (long)fetched!["created"]!);
        Assert.Equal(new string('0', 32), (string?)fetched["nonce"]);
        Assert.Equal("ecdsa-p256-sha256", (string?)fetched["algo"]);
        Assert.Equal(new string('a', 64), (string?)fetched["signing_key_fingerprint"]);
        Assert.Equal(["id", "created", "text", "signature", "algo", "signing_key_fingerprint", "nonce"], fetched.Select(p => p.Key));
        Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
    }

    [Fact]
    public async Task TheServiceStartsWithRedisDownAndAnswersAtOnceLikeTheOthers()
    {
        // Issue 17.9: connected like the gateway and the worker (RedisConnections: no abort when
        // Redis is down at start, no backlog), the service comes up without Redis and answers a
        // lookup with a clear 503. With StackExchange.Redis's defaults it would not start at all
        // (the connection is made at start and aborts on a failed connect).
        await using var tpm = await SwtpmServer.StartAsync();
        var deadRedis = $"127.0.0.1:{FreePort.Next()}";
        await using var factory = new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactory<Program>().WithWebHostBuilder(b =>
        {
            b.UseSetting("ConnectionStrings:redis", deadRedis);
            b.UseSetting("Attestation:Tpm:Tcti", tpm.Tcti);
            b.UseSetting("Attestation:InternalToken", AttestationHost.InternalToken);
        });
        using var http = factory.CreateClient();
        http.DefaultRequestHeaders.Add("x-tee-internal-token", AttestationHost.InternalToken);

        using var alive = await http.GetAsync("/alive", TestContext.Current);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/signature/chatcmpl-abc") { Headers = { { "x-tee-key-id", "key_abc" } } };
        using var lookup = await http.SendAsync(request, TestContext.Current);
        var error = await lookup.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current);

        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, lookup.StatusCode);
        Assert.Equal("signature_store_unavailable", (string?)error?["error"]?["code"]);
    }

    [Fact]
    public async Task WithRedisDownASignatureLookupGetsAClear503NotAnExceptionPage()
    {
        await using var host = await AttestationHost.StartAsync();
        using var http = host.Client();
        host.Redis.Kill();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/signature/chatcmpl-abc") { Headers = { { "x-tee-key-id", "key_abc" } } };

        using var response = await http.SendAsync(request, TestContext.Current);
        var error = await response.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("signature_store_unavailable", (string?)error?["error"]?["code"]);
    }

    [Theory]
    [InlineData("chatcmpl-nothere")]
    [InlineData("chatcmpl-abc;DROP")]
    [InlineData("../../etc")]
    public async Task AMissingOrMalformedIdIs404(string id)
    {
        await using var host = await AttestationHost.StartAsync();
        using var http = host.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/signature/" + Uri.EscapeDataString(id)) { Headers = { { "x-tee-key-id", "key_abc" } } };

        Assert.Equal(HttpStatusCode.NotFound, (await http.SendAsync(request, TestContext.Current)).StatusCode);
    }

    [Fact]
    public async Task EveryRouteButHealthNeedsTheInternalToken()
    {
        await using var host = await AttestationHost.StartAsync();
        var stored = new StoredSignature("chatcmpl-victim", 1764000000, "t", "c2ln", "ecdsa-p256-sha256", new string('a', 64), new string('0', 32), "key_victim");
        await using (var mux = await ConnectionMultiplexer.ConnectAsync(host.Redis.ConnectionString))
            await mux.GetDatabase().StringSetAsync(RedisContract.SignatureKey(stored.Id), JsonSerializer.Serialize(stored, ContractJsonContext.Default.StoredSignature));
        using var outsider = host.Outsider();
        using var wrong = host.Outsider();
        wrong.DefaultRequestHeaders.Add(InternalAuth.Header, "internal-token-for-tests-0123456789abcdeX");
        using var gateway = host.Client();
        HttpRequestMessage Spoofed() => new(HttpMethod.Get, "/v1/signature/chatcmpl-victim") { Headers = { { "x-tee-key-id", "key_victim" } } };

        // Anyone else on the network spoofs the victim's key id: refused before any route runs.
        Assert.Equal(HttpStatusCode.Unauthorized, (await outsider.SendAsync(Spoofed(), TestContext.Current)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.SendAsync(Spoofed(), TestContext.Current)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await outsider.GetAsync("/attestation", TestContext.Current)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await outsider.GetAsync("/internal/keys", TestContext.Current)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await outsider.GetAsync("/health", TestContext.Current)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await gateway.SendAsync(Spoofed(), TestContext.Current)).StatusCode);
    }

    [Fact]
    public async Task TheServiceDoesNotStartWithoutAnInternalToken()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => AttestationHost.StartAsync(new Dictionary<string, string?> { ["Attestation:InternalToken"] = "" }));

        Assert.Contains("Attestation:InternalToken", error.ToString());
    }
}
