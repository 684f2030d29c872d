using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace TeeAspire.Tests;

public sealed class LimitsTests
{
    private static JsonContent Chat(bool stream = false) => JsonContent.Create(new
    {
        model = "deepseek-r1",
        stream,
        messages = new[] { new { role = "user", content = "hi" } },
    });

    [Fact]
    public async Task AKeyWithRpm5AndTwelveConcurrentRequestsGetsExactlyFive()
    {
        await using var host = await GatewayHost.StartAsync();
        var (_, key) = await host.CreateKeyAsync(new { rpm = 5 });
        using var http = host.Client(key);

        var responses = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => http.PostAsync("/v1/chat/completions", Chat(), TestContext.Current)));

        Assert.Equal(5, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        var refused = responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.Equal(7, refused.Count);
        foreach (var r in refused)
        {
            Assert.InRange(int.Parse(r.Headers.RetryAfter!.ToString()), 1, 60);
            Assert.Equal("0", r.Headers.GetValues("x-ratelimit-remaining-requests").Single());
            Assert.Equal("5", r.Headers.GetValues("x-ratelimit-limit-requests").Single());
            var error = (await r.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current))!["error"]!;
            Assert.Equal("rate_limit_exceeded", (string?)error["code"]);
        }
    }

    [Fact]
    public async Task SuccessfulResponsesCarryOpenAisRateLimitHeaders()
    {
        await using var host = await GatewayHost.StartAsync();
        var (_, key) = await host.CreateKeyAsync(new { rpm = 10, tpm = 1000 });
        using var http = host.Client(key);

        using var response = await http.PostAsync("/v1/chat/completions", Chat(), TestContext.Current);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("10", response.Headers.GetValues("x-ratelimit-limit-requests").Single());
        Assert.Equal("9", response.Headers.GetValues("x-ratelimit-remaining-requests").Single());
        Assert.Matches(@"^\d+m[\d.]+s$|^[\d.]+s$", response.Headers.GetValues("x-ratelimit-reset-requests").Single());
        Assert.Equal("1000", response.Headers.GetValues("x-ratelimit-limit-tokens").Single());
        // Admission took the prompt's estimate: 7 tokens for "hi" (1 of text, 4 of template, 2 for the message).
        Assert.Equal("993", response.Headers.GetValues("x-ratelimit-remaining-tokens").Single());
        Assert.True(response.Headers.Contains("x-ratelimit-reset-tokens"));
    }

    [Fact]
    public async Task TheTokenBudgetIsDebitedByTheWorkerAndThenRefuses()
    {
        await using var host = await GatewayHost.StartAsync();
        // Each answer costs ~45 tokens (prompt + reasoning + content) against a budget of 50.
        var (id, key) = await host.CreateKeyAsync(new { tpm = 50 });
        using var http = host.Client(key);
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(host.Redis.ConnectionString);

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 3; i++)
        {
            statuses.Add((await http.PostAsync("/v1/chat/completions", Chat(), TestContext.Current)).StatusCode);
            // The worker debits after the answer ends; wait for it as a client's next request would.
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (((int?)await redis.GetDatabase().HashGetAsync($"tee:usage:{{{id}}}", "requests") ?? 0) < Math.Min(i + 1, 2) && DateTime.UtcNow < deadline)
                await Task.Delay(20, TestContext.Current);
        }
        using var refused = await http.PostAsync("/v1/chat/completions", Chat(), TestContext.Current);

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], statuses);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("tokens", (string?)(await refused.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current))!["error"]!["type"]);
    }

    [Fact]
    public async Task MaxParallelLimitsConcurrentStreamsAndFreesTheSlotWhenTheyEnd()
    {
        await using var host = await GatewayHost.StartAsync(backend: o => o.TokensPerSecond = 20);
        var (_, key) = await host.CreateKeyAsync(new { max_parallel = 1, rpm = 100 });
        using var http = host.Client(key);

        using var first = await http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Chat(stream: true) },
            HttpCompletionOption.ResponseHeadersRead, TestContext.Current);
        using var second = await http.PostAsync("/v1/chat/completions", Chat(), TestContext.Current);
        await Sse.ReadAllAsync(first, TestContext.Current);
        first.Dispose();
        await Task.Delay(200, TestContext.Current);
        using var third = await http.PostAsync("/v1/chat/completions", Chat(), TestContext.Current);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.Equal(HttpStatusCode.OK, third.StatusCode);
    }

    [Fact]
    public async Task PublicRoutesAreLimitedPerClientAddress()
    {
        await using var host = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["RateLimit:PublicRpmPerIp"] = "2" });
        using var http = host.Client();

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 3; i++) statuses.Add((await http.GetAsync("/attestation", TestContext.Current)).StatusCode);

        Assert.NotEqual(HttpStatusCode.TooManyRequests, statuses[0]);
        Assert.NotEqual(HttpStatusCode.TooManyRequests, statuses[1]);
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[2]);
    }

    [Fact]
    public async Task WithRedisDownFailOpenKeepsServingKnownKeysWithLimitsPerReplica()
    {
        await using var host = await GatewayHost.StartAsync();
        var (_, key) = await host.CreateKeyAsync(new { rpm = 3 });
        using var http = host.Client(key);
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync("/v1/chat/completions", Chat(), TestContext.Current)).StatusCode);

        host.Redis.Kill();
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++) statuses.Add((await http.PostAsync("/v1/chat/completions", Chat(), TestContext.Current)).StatusCode);

        // The in-process limiter starts afresh: 3 more, then 429 — never a hang or a 500.
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], statuses);
    }

    [Fact]
    public async Task WithRedisDownFailClosedAnswers503()
    {
        await using var host = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["RateLimit:RedisFailure"] = "FailClosed" });
        var (_, key) = await host.CreateKeyAsync();
        using var http = host.Client(key);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v1/models", TestContext.Current)).StatusCode);

        host.Redis.Kill();
        using var response = await http.PostAsync("/v1/chat/completions", Chat(), TestContext.Current);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("rate_limiter_unavailable", (string?)(await response.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current))!["error"]!["code"]);
    }
}
