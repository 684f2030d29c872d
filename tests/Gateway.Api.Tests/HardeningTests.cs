using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Gateway.Api.Keys;
using Microsoft.Extensions.DependencyInjection;

namespace TeeAspire.Tests;

/// <summary>The gateway's edges against abuse (issue 17): forwarded addresses, the admin listener, throttled failures, bounded caches, legacy keys.</summary>
public sealed class HardeningTests
{
    private static readonly IPAddress Proxy = IPAddress.Loopback;
    private static readonly IPAddress Stranger = IPAddress.Parse("203.0.113.7");

    private static async Task<int[]> AttestationCallsAsync(GatewayHost host, IPAddress peer, int calls)
    {
        var statuses = new int[calls];
        using var http = host.ClientFrom(peer);
        for (var i = 0; i < calls; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/attestation");
            request.Headers.Add("CF-Connecting-IP", $"198.51.100.{i + 1}");
            request.Headers.Add("X-Forwarded-For", $"198.51.100.{i + 1}");
            using var response = await http.SendAsync(request, TestContext.Current);
            statuses[i] = (int)response.StatusCode;
        }
        return statuses;
    }

    [Fact]
    public async Task ClientsBehindATrustedProxyAreLimitedOneByOne()
    {
        await using var host = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["Gateway:TrustedProxies:0"] = "127.0.0.1" });

        var statuses = await AttestationCallsAsync(host, Proxy, 62);

        Assert.DoesNotContain(429, statuses);
    }

    [Fact]
    public async Task ForwardedAddressesFromAnUntrustedPeerAreIgnored()
    {
        await using var host = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["Gateway:TrustedProxies:0"] = "127.0.0.1" });

        var statuses = await AttestationCallsAsync(host, Stranger, 62);

        Assert.Equal(429, statuses[^1]);
        Assert.Equal(60, statuses.Count(s => s != 429));
    }

    [Fact]
    public async Task WithoutTrustedProxiesForwardedAddressesAreIgnored()
    {
        await using var host = await GatewayHost.StartAsync();

        var statuses = await AttestationCallsAsync(host, Proxy, 62);

        Assert.Equal(429, statuses[^1]);
    }

    [Theory]
    [InlineData("CF-Connecting-IP", "203.0.113.7")]
    [InlineData("Cf-Ray", "8a1b2c3d4e5f6789-AMS")]
    public async Task AnAdminRequestThatCameThroughTheTunnelIsRefusedEvenWithTheMasterKey(string header, string value)
    {
        // A tunnel ingress misrouted to the admin port must fail closed: Cloudflare's headers mark the edge.
        await using var host = await GatewayHost.StartAsync();
        using var adminSide = host.Admin();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/admin/keys");
        request.Headers.TryAddWithoutValidation(header, value);

        using var response = await adminSide.SendAsync(request, TestContext.Current);
        using var direct = await adminSide.GetAsync("/admin/keys", TestContext.Current);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, direct.StatusCode);
    }

    [Fact]
    public async Task TheAdminApiIsNotOnThePublicListener()
    {
        await using var host = await GatewayHost.StartAsync();
        using var publicSide = host.ClientFrom(Proxy, localPort: 0, key: GatewayHost.MasterKey);
        using var adminSide = host.Admin();

        using var onPublic = await publicSide.GetAsync("/admin/keys", TestContext.Current);
        using var createOnPublic = await publicSide.PostAsJsonAsync("/admin/keys", new { name = "x" }, TestContext.Current);
        using var onAdmin = await adminSide.GetAsync("/admin/keys", TestContext.Current);

        Assert.Equal(HttpStatusCode.NotFound, onPublic.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, createOnPublic.StatusCode);
        Assert.Equal("unknown_url", (string?)(await onPublic.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current))!["error"]!["code"]);
        Assert.Equal(HttpStatusCode.OK, onAdmin.StatusCode);
    }

    [Fact]
    public async Task WrongMasterKeysAreThrottledPerSource()
    {
        await using var host = await GatewayHost.StartAsync();
        using var guesser = host.Admin(GatewayHost.MasterKey[..^1] + "x", peer: Stranger);
        using var operatorElsewhere = host.Admin(peer: IPAddress.Parse("10.0.0.2"));

        var first = new List<HttpStatusCode>();
        for (var i = 0; i < 5; i++) first.Add((await guesser.GetAsync("/admin/keys", TestContext.Current)).StatusCode);
        using var sixth = await guesser.GetAsync("/admin/keys", TestContext.Current);
        using var other = await operatorElsewhere.GetAsync("/admin/keys", TestContext.Current);

        Assert.All(first, s => Assert.Equal(HttpStatusCode.Unauthorized, s));
        Assert.Equal(HttpStatusCode.TooManyRequests, sixth.StatusCode);
        Assert.NotNull(sixth.Headers.RetryAfter);
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
    }

    [Theory]
    [InlineData("sk-tee-master-0123456789abcdef")]
    [InlineData("short")]
    [InlineData("sk-tee-master-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public async Task AWeakMasterKeyStopsTheGatewayAtStart(string weak)
    {
        await using var host = await GatewayHost.StartAsync();
        var gateway = host.NewGateway(new Dictionary<string, string?> { ["TEE_MASTER_KEY"] = weak });

        var error = Assert.Throws<InvalidOperationException>(() => gateway.CreateClient());

        Assert.Contains("TEE_MASTER_KEY", error.Message);
        Assert.DoesNotContain(weak, error.Message);
    }

    [Fact]
    public async Task RepeatedBadKeysFromOneSourceBecome429()
    {
        await using var host = await GatewayHost.StartAsync();
        using var attacker = host.ClientFrom(Stranger);
        using var someoneElse = host.ClientFrom(IPAddress.Parse("10.0.0.3"), key: "sk-tee-" + Guid.NewGuid().ToString("N"));

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 21; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
            request.Headers.Authorization = new("Bearer", "sk-tee-" + Guid.NewGuid().ToString("N"));
            statuses.Add((await attacker.SendAsync(request, TestContext.Current)).StatusCode);
        }
        using var elsewhere = await someoneElse.GetAsync("/v1/models", TestContext.Current);

        Assert.All(statuses.Take(20), s => Assert.Equal(HttpStatusCode.Unauthorized, s));
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[20]);
        Assert.Equal(HttpStatusCode.Unauthorized, elsewhere.StatusCode);
    }

    // Issue 29, finding 5: a stranger's failures must not lock out the valid credentials that share its address.
    [Fact]
    public async Task TwentyUnknownKeysFromASharedAddressDoNotLockOutAValidKeyBehindIt()
    {
        await using var host = await GatewayHost.StartAsync();
        var (_, good) = await host.CreateKeyAsync();
        using var stranger = host.ClientFrom(Stranger);
        using var colleague = host.ClientFrom(Stranger, key: good);
        for (var i = 0; i < 25; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
            request.Headers.Authorization = new("Bearer", "sk-tee-" + Guid.NewGuid().ToString("N"));
            using var _ = await stranger.SendAsync(request, TestContext.Current);
        }

        using var models = await colleague.GetAsync("/v1/models", TestContext.Current);
        using var chat = await colleague.PostAsJsonAsync("/v1/chat/completions",
            new { model = "deepseek-r1", messages = new[] { new { role = "user", content = "hi" } } }, TestContext.Current);
        using var guess = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        guess.Headers.Authorization = new("Bearer", "sk-tee-" + Guid.NewGuid().ToString("N"));
        using var strangerAgain = await stranger.SendAsync(guess, TestContext.Current);

        Assert.Equal(HttpStatusCode.OK, models.StatusCode);
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, strangerAgain.StatusCode);
    }

    [Fact]
    public async Task FiveWrongMasterKeysFromLocalhostDoNotLockOutTheRightOne()
    {
        await using var host = await GatewayHost.StartAsync();
        using var guesser = host.Admin(GatewayHost.MasterKey[..^1] + "x");
        using var operatorOnTheSameHost = host.Admin();
        for (var i = 0; i < 8; i++)
        {
            using var _ = await guesser.GetAsync("/admin/keys", TestContext.Current);
        }

        using var throttled = await guesser.GetAsync("/admin/keys", TestContext.Current);
        using var right = await operatorOnTheSameHost.GetAsync("/admin/keys", TestContext.Current);

        Assert.Equal(HttpStatusCode.TooManyRequests, throttled.StatusCode);
        Assert.Equal(HttpStatusCode.OK, right.StatusCode);
    }

    [Fact]
    public async Task RandomKeysDoNotGrowTheKeyCacheBeyondItsBound()
    {
        await using var host = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["Gateway:NegativeCacheSize"] = "500", ["Gateway:KeyCacheTtl"] = "00:10:00" });
        var store = host.Gateway.Services.GetRequiredService<ApiKeyStore>();
        var (_, good) = await host.CreateKeyAsync();

        var lookups = Enumerable.Range(0, 20_000).Select(_ => "sk-tee-" + Guid.NewGuid().ToString("N")).ToArray();
        await Parallel.ForEachAsync(lookups, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = TestContext.Current },
            async (secret, _) => Assert.Null(await store.FindBySecretAsync(secret)));

        Assert.InRange(store.CachedMisses, 1, 500);
        Assert.NotNull(await store.FindBySecretAsync(good));
    }

    [Fact]
    public async Task AnImportedSecretIsALegacyKeyThatExpires()
    {
        await using var host = await GatewayHost.StartAsync();
        using var admin = host.Admin();

        using var imported = await admin.PostAsJsonAsync("/admin/keys", new { name = "old", secret = "sk-tee-deepseek-key" }, TestContext.Current);
        var created = (await imported.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current))!;
        var listed = (await admin.GetFromJsonAsync<JsonNode>("/admin/keys", TestContext.Current))!["data"]!.AsArray().Single()!;
        using var neverExpire = await admin.PatchAsJsonAsync($"/admin/keys/{(string)created["id"]!}", new { expires_at = (object?)null }, TestContext.Current);
        var (_, fresh) = await host.CreateKeyAsync();
        var freshListed = (await admin.GetFromJsonAsync<JsonNode>("/admin/keys", TestContext.Current))!["data"]!.AsArray().Single(k => !(bool)k!["legacy"]!)!;

        Assert.Equal(HttpStatusCode.Created, imported.StatusCode);
        Assert.True((bool)created["legacy"]!);
        var expires = DateTimeOffset.FromUnixTimeSeconds((long)created["expires_at"]!);
        Assert.InRange(expires, DateTimeOffset.UtcNow.AddDays(89), DateTimeOffset.UtcNow.AddDays(91));
        Assert.True((bool)listed["legacy"]!);
        Assert.Equal((long)created["expires_at"]!, (long)listed["expires_at"]!);
        Assert.Equal(HttpStatusCode.BadRequest, neverExpire.StatusCode);
        Assert.Null(freshListed["expires_at"]);
        Assert.NotEmpty(fresh);
    }
}
