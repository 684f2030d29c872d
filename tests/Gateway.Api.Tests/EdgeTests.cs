using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace TeeAspire.Tests;

public sealed class EdgeTests
{
    [Fact]
    public async Task EveryResponseCarriesARequestIdKeepingAWellFormedOne()
    {
        await using var host = await GatewayHost.StartAsync();
        using var http = host.Client();

        using var kept = new HttpRequestMessage(HttpMethod.Get, "/v1/models") { Headers = { { "x-request-id", "client-123_abc" } } };
        using var replaced = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        replaced.Headers.TryAddWithoutValidation("x-request-id", "bad id\twith <script>");
        using var keptResponse = await http.SendAsync(kept, TestContext.Current);
        using var replacedResponse = await http.SendAsync(replaced, TestContext.Current);
        using var health = await http.GetAsync("/health", TestContext.Current);

        Assert.Equal("client-123_abc", keptResponse.Headers.GetValues("x-request-id").Single());
        Assert.Matches("^req_[0-9a-f]{32}$", replacedResponse.Headers.GetValues("x-request-id").Single());
        Assert.True(health.Headers.Contains("x-request-id"));
    }

    [Theory]
    [InlineData("GET", "/v1/completions", 404)]
    [InlineData("GET", "/v1/files/..%2F..%2Fetc%2Fpasswd", 404)]
    [InlineData("GET", "/v1/chat/completions", 405)]
    [InlineData("PUT", "/admin/keys", 404)]
    [InlineData("GET", "/admin/keys", 404)]
    public async Task UnknownUrlsAndWrongMethodsGetOpenAisEnvelope(string method, string path, int status)
    {
        await using var host = await GatewayHost.StartAsync();
        var (_, key) = await host.CreateKeyAsync();
        using var http = host.Client(key);

        using var response = await http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path), TestContext.Current);

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("invalid_request_error", (string?)(await response.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current))!["error"]!["type"]);
    }

    [Theory]
    [InlineData("/v1/signature/..%2F..%2Fadmin")]
    [InlineData("/v1/signature/not-a-completion")]
    [InlineData("/v1/signature/chatcmpl-abc%20def")]
    public async Task MalformedSignatureIdsAre404WithoutReachingTheAttestationService(string path)
    {
        await using var host = await GatewayHost.StartAsync();
        var (_, key) = await host.CreateKeyAsync();
        using var http = host.Client(key);

        using var response = await http.GetAsync(path, TestContext.Current);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task SignaturesNeedAKey()
    {
        await using var host = await GatewayHost.StartAsync();
        using var http = host.Client();

        using var response = await http.GetAsync("/v1/signature/chatcmpl-abc123", TestContext.Current);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task AttestationIsPublicAndAnUnconfiguredServiceIs503()
    {
        await using var host = await GatewayHost.StartAsync();
        using var http = host.Client();

        using var response = await http.GetAsync("/attestation?nonce=00112233445566778899aabbccddeeff", TestContext.Current);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("service_unavailable", (string?)(await response.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current))!["error"]!["code"]);
    }

    [Fact]
    public async Task CorsAllowsNoOriginByDefault()
    {
        await using var host = await GatewayHost.StartAsync();
        using var http = host.Client();
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/v1/chat/completions")
        {
            Headers = { { "Origin", "https://evil.example" }, { "Access-Control-Request-Method", "POST" } },
        };

        using var response = await http.SendAsync(preflight, TestContext.Current);

        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task CorsAllowsAConfiguredOrigin()
    {
        await using var host = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["Gateway:CorsOrigins:0"] = "chrome-extension://abcdefghijklmnop" });
        using var http = host.Client();
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/v1/chat/completions")
        {
            Headers = { { "Origin", "chrome-extension://abcdefghijklmnop" }, { "Access-Control-Request-Method", "POST" }, { "Access-Control-Request-Headers", "authorization,content-type" } },
        };

        using var response = await http.SendAsync(preflight, TestContext.Current);

        Assert.Equal("chrome-extension://abcdefghijklmnop", response.Headers.GetValues("Access-Control-Allow-Origin").Single());
    }

    [Fact]
    public async Task HealthIsReadyOnlyWhileRedisAnswers()
    {
        await using var host = await GatewayHost.StartAsync();
        using var http = host.Client();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health", TestContext.Current)).StatusCode);

        host.Redis.Kill();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/health", TestContext.Current)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/alive", TestContext.Current)).StatusCode);
    }
}
