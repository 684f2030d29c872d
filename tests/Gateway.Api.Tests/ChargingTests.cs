using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using StackExchange.Redis;

namespace TeeAspire.Tests;

/// <summary>
/// Issue 29, finding 2: a key with 5,000 tokens/min and a 4,004-token prompt (the Ollama double
/// counts a prompt's words + 4) cut its streams after the first event to be admitted every time
/// and charged nothing. Every prompt is charged, and admission holds its estimate.
/// </summary>
public sealed class ChargingTests
{
    private static readonly string LongPrompt = string.Join(' ', Enumerable.Repeat("w", 4000));

    private static HttpRequestMessage Stream() => new(HttpMethod.Post, "/v1/chat/completions")
    {
        Content = JsonContent.Create(new { model = "deepseek-r1", stream = true, messages = new[] { new { role = "user", content = LongPrompt } } }),
    };

    /// <summary>Sends a stream and cuts it after its first event; the status it got.</summary>
    private static async Task<HttpStatusCode> CutAfterTheFirstEventAsync(HttpClient http)
    {
        using var response = await http.SendAsync(Stream(), HttpCompletionOption.ResponseHeadersRead, TestContext.Current);
        if (response.StatusCode != HttpStatusCode.OK) return response.StatusCode;
        await using var body = await response.Content.ReadAsStreamAsync(TestContext.Current);
        using var reader = new StreamReader(body);
        while (await reader.ReadLineAsync(TestContext.Current) is { } line && !line.StartsWith("data: ", StringComparison.Ordinal)) { }
        return response.StatusCode;
    }

    private static async Task<long> UsageAsync(IDatabase redis, string keyId, string field) =>
        (long?)await redis.HashGetAsync($"tee:usage:{{{keyId}}}", field) ?? 0;

    private static async Task WaitForRecordsAsync(IDatabase redis, string keyId, long requests)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current);
        timeout.CancelAfter(TimeSpan.FromSeconds(15));
        while (await UsageAsync(redis, keyId, "requests") < requests) await Task.Delay(20, timeout.Token);
    }

    [Fact]
    public async Task StreamsCutAfterTheFirstEventAreChargedTheirPromptAndStopBeingAdmitted()
    {
        await using var host = await GatewayHost.StartAsync(backend: o => { o.TokensPerSecond = 20; o.AnswerTokens = 200; });
        var (id, key) = await host.CreateKeyAsync(new { tpm = 5000, rpm = 100, max_parallel = 8 });
        using var http = host.Client(key);
        await using var connection = await ConnectionMultiplexer.ConnectAsync(host.Redis.ConnectionString);
        var redis = connection.GetDatabase();

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 8; i++)
        {
            var status = await CutAfterTheFirstEventAsync(http);
            statuses.Add(status);
            if (status == HttpStatusCode.OK) await WaitForRecordsAsync(redis, id, statuses.Count(s => s == HttpStatusCode.OK));
        }

        Assert.Equal(HttpStatusCode.OK, statuses[0]);
        Assert.All(statuses.Skip(1), s => Assert.Equal(HttpStatusCode.TooManyRequests, s));
        Assert.Equal(1, await UsageAsync(redis, id, "requests"));
        Assert.InRange(await UsageAsync(redis, id, "prompt_tokens"), 4004, 8100);
    }

    [Fact]
    public async Task CutStreamsSentAtOnceCannotAllSpendTheSameBudget()
    {
        await using var host = await GatewayHost.StartAsync(backend: o => { o.TokensPerSecond = 20; o.AnswerTokens = 200; });
        var (_, key) = await host.CreateKeyAsync(new { tpm = 5000, rpm = 100, max_parallel = 8 });
        using var http = host.Client(key);

        var statuses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => CutAfterTheFirstEventAsync(http)));

        // The prompt's estimate (≈ 2,006 tokens) is taken at admission: two fit in 5,000, not eight.
        Assert.Equal(2, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(6, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
    }

    [Fact]
    public async Task ARequestNoBackendServedGivesItsReservationBack()
    {
        await using var host = await GatewayHost.StartAsync();
        var (id, key) = await host.CreateKeyAsync(new { tpm = 5000, rpm = 100 });
        using var http = host.Client(key);
        await using var connection = await ConnectionMultiplexer.ConnectAsync(host.Redis.ConnectionString);
        await host.Backend.InjectAsync("busy_503", count: 10);

        using var refused = await http.PostAsJsonAsync("/v1/chat/completions",
            new { model = "deepseek-r1", messages = new[] { new { role = "user", content = LongPrompt } } }, TestContext.Current);
        var reservedLeft = long.Parse(refused.Headers.GetValues("x-ratelimit-remaining-tokens").Single());
        // The refill alone needs ~24 s to give back 2,006 tokens; the refund comes at once.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        double balance;
        while ((balance = (double?)await connection.GetDatabase().HashGetAsync($"tee:rl:{{key:{id}}}:tok", "b") ?? 0) < 4900)
            await Task.Delay(20, timeout.Token);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.InRange(reservedLeft, 2900, 3100);
        Assert.True(balance >= 4900);
        Assert.Equal(0, await UsageAsync(connection.GetDatabase(), id, "requests"));
    }
}
