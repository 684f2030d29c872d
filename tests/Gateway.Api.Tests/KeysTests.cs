using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Mvc.Testing;
using StackExchange.Redis;

namespace TeeAspire.Tests;

public sealed class KeysTests
{
    private static JsonContent Chat(string model = "deepseek-r1") => JsonContent.Create(new
    {
        model,
        messages = new[] { new { role = "user", content = "hi" } },
    });

    [Fact]
    public async Task CreatedKeysAreSkTeeWithAtLeast256BitsAndShownOnce()
    {
        await using var host = await GatewayHost.StartAsync();
        using var admin = host.Admin();

        using var created = await admin.PostAsJsonAsync("/admin/keys", new { name = "alice", rpm = 10, tpm = 5000, max_parallel = 2, models = new[] { "deepseek-r1" } }, TestContext.Current);
        var json = (await created.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current))!;
        var id = (string)json["id"]!;
        var listed = await admin.GetFromJsonAsync<JsonNode>("/admin/keys", TestContext.Current);
        var one = await admin.GetFromJsonAsync<JsonNode>($"/admin/keys/{id}", TestContext.Current);

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var key = (string)json["key"]!;
        Assert.StartsWith("sk-tee-", key);
        Assert.True(Convert.FromBase64String(Pad(key["sk-tee-".Length..])).Length >= 32);
        Assert.Equal(10, (int)json["rpm"]!);
        Assert.Equal(2, (int)json["max_parallel"]!);
        Assert.DoesNotContain(key, listed!.ToJsonString());
        Assert.DoesNotContain(key, one!.ToJsonString());
        Assert.Null(one["key"]);
        Assert.Equal("alice", (string?)one["name"]);
        Assert.Equal(0, (int)one["usage"]!["requests"]!);
        Assert.Contains(listed["data"]!.AsArray(), k => (string?)k!["id"] == id);
    }

    private static string Pad(string b64url)
    {
        var s = b64url.Replace('-', '+').Replace('_', '/');
        return s + new string('=', (4 - s.Length % 4) % 4);
    }

    [Fact]
    public async Task RedisNeverHoldsASecretInPlainText()
    {
        await using var host = await GatewayHost.StartAsync();
        var (_, key) = await host.CreateKeyAsync();
        var (_, imported) = await host.CreateKeyAsync(new { secret = "sk-tee-deepseek-key" });
        using var http = host.Client(key);
        (await http.PostAsync("/v1/chat/completions", Chat(), TestContext.Current)).EnsureSuccessStatusCode();

        await using var redis = await ConnectionMultiplexer.ConnectAsync(host.Redis.ConnectionString + ",allowAdmin=true");
        var server = redis.GetServer(redis.GetEndPoints()[0]);
        var dump = new StringBuilder();
        await foreach (var k in server.KeysAsync(pattern: "*"))
        {
            dump.Append((string?)k).Append('\n');
            var type = await redis.GetDatabase().KeyTypeAsync(k);
            if (type == RedisType.String) dump.Append((string?)await redis.GetDatabase().StringGetAsync(k));
            if (type == RedisType.Hash) foreach (var e in await redis.GetDatabase().HashGetAllAsync(k)) dump.Append(e.Name).Append(e.Value);
            if (type == RedisType.Set) foreach (var m in await redis.GetDatabase().SetMembersAsync(k)) dump.Append(m);
        }

        Assert.True(dump.Length > 100, "the keys were found");
        Assert.DoesNotContain(key, dump.ToString());
        Assert.DoesNotContain(key["sk-tee-".Length..], dump.ToString());
        Assert.DoesNotContain("sk-tee-deepseek-key", dump.ToString());
        Assert.Null(imported);
    }

    [Fact]
    public async Task BearerAndXApiKeyBothAuthenticate()
    {
        await using var host = await GatewayHost.StartAsync();
        var (_, key) = await host.CreateKeyAsync();
        using var http = host.Client();

        using var bearer = new HttpRequestMessage(HttpMethod.Get, "/v1/models") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", key) } };
        using var xApiKey = new HttpRequestMessage(HttpMethod.Get, "/v1/models") { Headers = { { "x-api-key", key } } };

        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(bearer, TestContext.Current)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(xApiKey, TestContext.Current)).StatusCode);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Bearer sk-tee-not-a-real-key-000000000000")]
    [InlineData("Bearer short")]
    [InlineData("Basic dXNlcjpwYXNz")]
    [InlineData("Bearer sk-tee-has a space-0000000000000")]
    public async Task MissingWrongOrMalformedKeysGet401InOpenAisEnvelope(string? authorization)
    {
        await using var host = await GatewayHost.StartAsync();
        using var http = host.Client();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Chat() };
        if (authorization is not null) request.Headers.TryAddWithoutValidation("Authorization", authorization);

        using var response = await http.SendAsync(request, TestContext.Current);
        var error = (await response.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current))!["error"]!;

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("invalid_request_error", (string?)error["type"]);
        Assert.Equal("invalid_api_key", (string?)error["code"]);
        Assert.True(error.AsObject().ContainsKey("param"));
    }

    [Fact]
    public async Task ARevokedKeyIsRefusedOnASecondGatewayWithinFiveSeconds()
    {
        await using var host = await GatewayHost.StartAsync();
        var (id, key) = await host.CreateKeyAsync();
        var second = host.NewGateway();
        using var onSecond = host.Client(key, second);
        Assert.Equal(HttpStatusCode.OK, (await onSecond.GetAsync("/v1/models", TestContext.Current)).StatusCode); // cached there now

        using var admin = host.Admin();
        using var revoked = await admin.DeleteAsync($"/admin/keys/{id}", TestContext.Current);
        Assert.True((bool)(await revoked.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current))!["deleted"]!);

        Assert.Equal(HttpStatusCode.Unauthorized, await ModelsStatusOnceAsync(onSecond, HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(5)));
        Assert.True((bool)(await admin.GetFromJsonAsync<JsonNode>($"/admin/keys/{id}", TestContext.Current))!["revoked"]!);
    }

    [Fact]
    public async Task ARevocationArrivesByPublishNotByCacheExpiryAlsoAfterRedisRestartsAndOnAGatewayStartedWithRedisDown()
    {
        // A cache that would keep the key for ten minutes: only the revocation message can refuse it in time.
        var longCache = new Dictionary<string, string?> { ["Gateway:KeyCacheTtl"] = "00:10:00" };
        await using var host = await GatewayHost.StartAsync(longCache);
        using var admin = host.Admin();

        async Task RevokedWithinTwoSeconds(WebApplicationFactory<Program> gateway, string id, string key)
        {
            using var http = host.Client(key, gateway);
            // Cached there now (a gateway whose connection is coming back answers 503 until it is back).
            Assert.Equal(HttpStatusCode.OK, await ModelsStatusOnceAsync(http, HttpStatusCode.OK, TimeSpan.FromSeconds(15)));
            using var revoked = await admin.DeleteAsync($"/admin/keys/{id}", TestContext.Current);
            Assert.Equal(HttpStatusCode.OK, revoked.StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, await ModelsStatusOnceAsync(http, HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(2)));
        }

        // The admin API answers 503 until the gateway's connection has come back after a restart.
        async Task<(string, string)> CreateKeyOnceRedisIsBack()
        {
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(15);
            while (true)
            {
                using var response = await admin.PostAsJsonAsync("/admin/keys", new { name = "test" }, TestContext.Current);
                if (response.StatusCode != HttpStatusCode.ServiceUnavailable || DateTime.UtcNow > until)
                {
                    response.EnsureSuccessStatusCode();
                    var json = (await response.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current))!;
                    return ((string)json["id"]!, (string)json["key"]!);
                }
                await Task.Delay(100, TestContext.Current);
            }
        }

        var second = host.NewGateway(longCache);
        var (id, key) = await host.CreateKeyAsync();
        await RevokedWithinTwoSeconds(second, id, key);

        // Redis restarts: the subscription comes back with the connection.
        host.Redis.Kill();
        await host.Redis.RestartAsync(TestContext.Current);
        var (id2, key2) = await CreateKeyOnceRedisIsBack();
        await RevokedWithinTwoSeconds(second, id2, key2);

        // A gateway that starts while Redis is down subscribes once it is back.
        host.Redis.Kill();
        var third = host.NewGateway(longCache);
        using (var early = host.Client("sk-not-a-key", third))
            await early.GetAsync("/v1/models", TestContext.Current); // starts it
        await host.Redis.RestartAsync(TestContext.Current);
        var (id3, key3) = await CreateKeyOnceRedisIsBack();
        await RevokedWithinTwoSeconds(third, id3, key3);
    }

    /// <summary>Asks <c>/v1/models</c> every 50 ms until it answers <paramref name="wanted"/> or <paramref name="within"/> has passed; the last status.</summary>
    private static async Task<HttpStatusCode> ModelsStatusOnceAsync(HttpClient http, HttpStatusCode wanted, TimeSpan within)
    {
        var started = DateTime.UtcNow;
        HttpStatusCode status;
        do
        {
            status = (await http.GetAsync("/v1/models", TestContext.Current)).StatusCode;
            if (status == wanted) break;
            await Task.Delay(50, TestContext.Current);
        }
        while (DateTime.UtcNow - started < within);
        return status;
    }

    [Fact]
    public async Task AnExpiredKeyIsRefused()
    {
        await using var host = await GatewayHost.StartAsync();
        var (_, key) = await host.CreateKeyAsync(new { expires_at = DateTimeOffset.UtcNow.AddSeconds(1).ToUnixTimeSeconds() + 1 });
        using var http = host.Client(key);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v1/models", TestContext.Current)).StatusCode);

        await Task.Delay(TimeSpan.FromSeconds(2.5), TestContext.Current);

        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/v1/models", TestContext.Current)).StatusCode);
    }

    [Fact]
    public async Task PatchChangesLimitsAndModels()
    {
        await using var host = await GatewayHost.StartAsync();
        var (id, key) = await host.CreateKeyAsync();
        using var admin = host.Admin();

        using var patched = await admin.PatchAsJsonAsync($"/admin/keys/{id}", new { rpm = 7, models = new[] { "deepseek-r1-7b" } }, TestContext.Current);
        var json = (await patched.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current))!;
        using var http = host.Client(key);
        await Task.Delay(100, TestContext.Current);

        Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
        Assert.Equal(7, (int)json["rpm"]!);
        Assert.Equal(HttpStatusCode.Forbidden, (await http.PostAsync("/v1/chat/completions", Chat("deepseek-r1"), TestContext.Current)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync("/v1/chat/completions", Chat("deepseek-r1-7b"), TestContext.Current)).StatusCode);
    }

    [Fact]
    public async Task ImportingAnExistingSecretIsAnAdminCallAndDuplicatesConflict()
    {
        await using var host = await GatewayHost.StartAsync();
        using var anonymous = host.Client("sk-tee-deepseek-key");
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v1/models", TestContext.Current)).StatusCode);
        using var admin = host.Admin();

        using var imported = await admin.PostAsJsonAsync("/admin/keys", new { name = "legacy", secret = "sk-tee-deepseek-key" }, TestContext.Current);
        using var again = await admin.PostAsJsonAsync("/admin/keys", new { secret = "sk-tee-deepseek-key" }, TestContext.Current);

        Assert.Equal(HttpStatusCode.Created, imported.StatusCode);
        Assert.True((bool)(await imported.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current))!["imported"]!);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/v1/models", TestContext.Current)).StatusCode);
    }

    [Fact]
    public async Task ConcurrentCreationsAllSucceedAndOneSecretImportedAtOnceEightTimesIsCreatedOnce()
    {
        await using var host = await GatewayHost.StartAsync();
        using var admin = host.Admin();

        var fresh = await Task.WhenAll(Enumerable.Range(0, 24).Select(i => admin.PostAsJsonAsync("/admin/keys", new { name = $"k{i}" }, TestContext.Current)));
        var same = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => admin.PostAsJsonAsync("/admin/keys", new { secret = "sk-tee-imported-once-only" }, TestContext.Current)));

        Assert.All(fresh, r => Assert.Equal(HttpStatusCode.Created, r.StatusCode));
        Assert.Single(same, r => r.StatusCode == HttpStatusCode.Created);
        Assert.Equal(7, same.Count(r => r.StatusCode == HttpStatusCode.Conflict));
        var listed = (await admin.GetFromJsonAsync<JsonNode>("/admin/keys", TestContext.Current))!["data"]!.AsArray();
        Assert.Equal(25, listed.Count);
        foreach (var r in fresh.Concat(same)) r.Dispose();
    }

    [Theory]
    [InlineData("""{"rpm":0}""", "rpm")]
    [InlineData("""{"rpm":"ten"}""", "rpm")]
    [InlineData("""{"tpm":-5}""", "tpm")]
    [InlineData("""{"max_parallel":1.5}""", "max_parallel")]
    [InlineData("""{"models":"deepseek-r1"}""", "models")]
    [InlineData("""{"models":[""]}""", "models")]
    [InlineData("""{"expires_at":"yesterday"}""", "expires_at")]
    [InlineData("""{"expires_at":1000}""", "expires_at")]
    [InlineData("""{"name":42}""", "name")]
    [InlineData("""{"secret":"short"}""", "secret")]
    [InlineData("""{"is_admin":true}""", "is_admin")]
    [InlineData("""[1]""", null)]
    [InlineData("""{"rpm":""", null)]
    public async Task InvalidKeySpecsGet400WithTheParamAndCreateNothing(string body, string? param)
    {
        await using var host = await GatewayHost.StartAsync();
        using var admin = host.Admin();

        using var response = await admin.PostAsync("/admin/keys", new StringContent(body, Encoding.UTF8, "application/json"), TestContext.Current);
        var listed = await admin.GetFromJsonAsync<JsonNode>("/admin/keys", TestContext.Current);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(param, (string?)(await response.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current))!["error"]!["param"]);
        Assert.Empty(listed!["data"]!.AsArray());
    }

    [Fact]
    public async Task TheAdminApiNeedsTheMasterKey()
    {
        await using var host = await GatewayHost.StartAsync();
        var (_, key) = await host.CreateKeyAsync();

        using var withUserKey = host.Admin(key);
        using var withWrong = host.Admin(GatewayHost.MasterKey + "x");
        using var none = host.Admin(key: null);
        using var disabled = host.Admin(GatewayHost.MasterKey, host.NewGateway(new Dictionary<string, string?> { ["TEE_MASTER_KEY"] = "" }));

        Assert.Equal(HttpStatusCode.Unauthorized, (await withUserKey.GetAsync("/admin/keys", TestContext.Current)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await withWrong.GetAsync("/admin/keys", TestContext.Current)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await none.PostAsJsonAsync("/admin/keys", new { }, TestContext.Current)).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await disabled.GetAsync("/admin/keys", TestContext.Current)).StatusCode);
    }

    [Theory]
    [InlineData("GET", "/admin/keys/key_000000000000000000000000")]
    [InlineData("GET", "/admin/keys/..%2F..%2Fetc%2Fpasswd")]
    [InlineData("PATCH", "/admin/keys/nope")]
    [InlineData("DELETE", "/admin/keys/key_000000000000000000000000")]
    public async Task UnknownOrMalformedKeyIdsAre404(string method, string path)
    {
        await using var host = await GatewayHost.StartAsync();
        using var admin = host.Admin();
        using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = method == "PATCH" ? JsonContent.Create(new { rpm = 5 }) : null };

        using var response = await admin.SendAsync(request, TestContext.Current);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.NotNull((await response.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current))!["error"]);
    }
}
