using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace TeeAspire.Tests;

public sealed class SigningTests
{
    private static readonly string ReqHash = Convert.ToHexStringLower(SHA256.HashData("request"u8));
    private static readonly string RespHash = Convert.ToHexStringLower(SHA256.HashData("response"u8));

    private static HttpRequestMessage Sign(string id, string keyId = "key_abc", string token = AttestationHost.InternalToken) => new(HttpMethod.Post, "/internal/sign")
    {
        Content = JsonContent.Create(new { id, keyId, requestSha256 = ReqHash, responseSha256 = RespHash }),
        Headers = { Authorization = new AuthenticationHeaderValue("Bearer", token) },
    };

    [Fact]
    public async Task ASignatureVerifiesAgainstTheReportedKeyAndOnlyItsOwnerCanFetchIt()
    {
        await using var host = await AttestationHost.StartAsync();
        using var http = host.Client();
        var report = await host.ReportAsync(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)));

        using var signed = await http.SendAsync(Sign("chatcmpl-abc123"), TestContext.Current);
        using var owner = new HttpRequestMessage(HttpMethod.Get, "/v1/signature/chatcmpl-abc123") { Headers = { { "x-tee-key-id", "key_abc" } } };
        using var other = new HttpRequestMessage(HttpMethod.Get, "/v1/signature/chatcmpl-abc123") { Headers = { { "x-tee-key-id", "key_other" } } };
        var fetched = await (await http.SendAsync(owner, TestContext.Current)).Content.ReadFromJsonAsync<JsonNode>(TestContext.Current);
        using var refused = await http.SendAsync(other, TestContext.Current);

        Assert.Equal(HttpStatusCode.OK, signed.StatusCode);
        Assert.Equal($"chatcmpl-abc123:{ReqHash}:{RespHash}", (string?)fetched!["text"]);
        Assert.Equal("ecdsa-p256-sha256", (string?)fetched["algo"]);
        Assert.Equal((string?)report["signing_key"]!["fingerprint"], (string?)fetched["signing_key_fingerprint"]);
        using var key = ECDsa.Create();
        key.ImportSubjectPublicKeyInfo(Convert.FromBase64String((string)report["signing_key"]!["spki"]!), out _);
        Assert.True(key.VerifyData(Encoding.UTF8.GetBytes((string)fetched["text"]!), Convert.FromBase64String((string)fetched["signature"]!), HashAlgorithmName.SHA256));
        Assert.False(key.VerifyData(Encoding.UTF8.GetBytes($"chatcmpl-abc124:{ReqHash}:{RespHash}"), Convert.FromBase64String((string)fetched["signature"]!), HashAlgorithmName.SHA256));
        Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
        Assert.DoesNotContain("key_abc", fetched.ToJsonString());
    }

    [Fact]
    public async Task TheSignEndpointNeedsTheInternalToken()
    {
        await using var host = await AttestationHost.StartAsync();
        using var http = host.Client();
        using var noToken = new HttpRequestMessage(HttpMethod.Post, "/internal/sign") { Content = JsonContent.Create(new { id = "chatcmpl-x" }) };

        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(Sign("chatcmpl-abc", token: "wrong-token"), TestContext.Current)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(noToken, TestContext.Current)).StatusCode);
    }

    [Fact]
    public async Task EveryRouteButHealthNeedsTheInternalToken()
    {
        await using var host = await AttestationHost.StartAsync();
        using var outsider = host.Outsider();
        using var wrong = host.Outsider();
        wrong.DefaultRequestHeaders.Add(InternalAuth.Header, "internal-token-for-tests-0123456789abcdeX");
        using var gateway = host.Client();
        Assert.Equal(HttpStatusCode.OK, (await gateway.SendAsync(Sign("chatcmpl-victim", keyId: "key_victim"), TestContext.Current)).StatusCode);

        // Anyone else on the network spoofs the victim's key id: refused before any route runs.
        using var spoofed = new HttpRequestMessage(HttpMethod.Get, "/v1/signature/chatcmpl-victim") { Headers = { { "x-tee-key-id", "key_victim" } } };
        using var spoofedWrong = new HttpRequestMessage(HttpMethod.Get, "/v1/signature/chatcmpl-victim") { Headers = { { "x-tee-key-id", "key_victim" } } };
        using var viaGateway = new HttpRequestMessage(HttpMethod.Get, "/v1/signature/chatcmpl-victim") { Headers = { { "x-tee-key-id", "key_victim" } } };

        Assert.Equal(HttpStatusCode.Unauthorized, (await outsider.SendAsync(spoofed, TestContext.Current)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.SendAsync(spoofedWrong, TestContext.Current)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await outsider.GetAsync("/attestation", TestContext.Current)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await outsider.GetAsync("/health", TestContext.Current)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await gateway.SendAsync(viaGateway, TestContext.Current)).StatusCode);
    }

    [Fact]
    public async Task TheServiceDoesNotStartWithoutAnInternalToken()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => AttestationHost.StartAsync(new Dictionary<string, string?> { ["Attestation:InternalToken"] = "" }));

        Assert.Contains("Attestation:InternalToken", error.ToString());
    }

    [Fact]
    public async Task SigningIsOffWithoutAnInternalToken()
    {
        // Dev mode: no token at all (TEE_INSECURE_NO_INTERNAL_TOKEN); signing still refuses to run.
        await using var host = await AttestationHost.StartAsync(new Dictionary<string, string?> { ["Attestation:InternalToken"] = "", ["TEE_INSECURE_NO_INTERNAL_TOKEN"] = "true" });
        using var http = host.Client();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.SendAsync(Sign("chatcmpl-abc", token: ""), TestContext.Current)).StatusCode);
    }

    [Theory]
    [InlineData("../../etc")]
    [InlineData("chatcmpl-")]
    [InlineData("chatcmpl-abc;DROP")]
    public async Task BadSignRequestsAre400(string id)
    {
        await using var host = await AttestationHost.StartAsync();
        using var http = host.Client();

        Assert.Equal(HttpStatusCode.BadRequest, (await http.SendAsync(Sign(id), TestContext.Current)).StatusCode);
    }

    [Fact]
    public async Task AMissingSignatureIs404()
    {
        await using var host = await AttestationHost.StartAsync();
        using var http = host.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/signature/chatcmpl-nothere") { Headers = { { "x-tee-key-id", "key_abc" } } };

        Assert.Equal(HttpStatusCode.NotFound, (await http.SendAsync(request, TestContext.Current)).StatusCode);
    }
}
