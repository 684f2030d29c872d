using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace TeeAspire.Tests;

public sealed class SchedulingTests
{
    private static JsonContent Body(bool stream = false, string model = "deepseek-r1") => JsonContent.Create(new
    {
        model,
        stream,
        messages = new[] { new { role = "user", content = "hi" } },
    });

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            if (timeout.IsCancellationRequested) throw new TimeoutException($"timed out waiting until {what}");
            await Task.Delay(10, CancellationToken.None);
        }
    }

    private static int Stat(OllamaDoubleServer backend, string name) =>
        (int)JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(backend.State.Snapshot()))![name]!;

    [Fact]
    public async Task NeverPutsMoreInFlightOnABackendThanItsSlots()
    {
        // The double could take 16 at once; the worker is told the backend has 2 slots.
        await using var host = await WorkerHost.StartAsync(backend: o => { o.Slots = 16; o.TokensPerSecond = 200; });
        using var http = host.CreateClient();

        var responses = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => http.PostAsync("/v1/chat/completions", Body(), TestContext.Current)));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(2, Stat(host.Backend, "max_in_flight"));
    }

    [Fact]
    public async Task SpreadsLoadOverBackendsAndCompletesEverything()
    {
        await using var host = await WorkerHost.StartAsync(backends: 2, backend: o => o.TokensPerSecond = 200);
        using var http = host.CreateClient();

        var responses = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => http.PostAsync("/v1/chat/completions", Body(), TestContext.Current)));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.All(host.Backends, b => Assert.True(Stat(b, "completed") >= 4, "both backends took work"));
        Assert.Equal(16, host.Backends.Sum(b => Stat(b, "completed")));
    }

    [Fact]
    public async Task OneKeysBurstDoesNotStarveAnotherKey()
    {
        // One slot, so the order in which queued requests are served is the scheduler's choice.
        await using var host = await WorkerHost.StartAsync(backend: o => o.TokensPerSecond = 400,
            settings: new Dictionary<string, string?> { ["Inference:DefaultSlots"] = "1" });
        using var heavy = host.CreateClient("heavy-key");
        using var light = host.CreateClient("light-key");
        var order = new System.Collections.Concurrent.ConcurrentQueue<string>();
        async Task Send(HttpClient client, string who)
        {
            using var r = await client.PostAsync("/v1/chat/completions", Body(), TestContext.Current);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            order.Enqueue(who);
        }

        // The heavy key queues 20 first; then the light key queues 20.
        var heavyTasks = Enumerable.Range(0, 20).Select(_ => Send(heavy, "heavy")).ToList();
        await WaitUntil(() => Stat(host.Backend, "requests") >= 1, "the first request runs");
        await Task.Delay(100, TestContext.Current);
        var lightTasks = Enumerable.Range(0, 20).Select(_ => Send(light, "light")).ToList();
        await Task.WhenAll(heavyTasks.Concat(lightTasks));

        // Of the first 20 served after both keys were waiting, each key got about half.
        var served = order.Skip(2).Take(20).ToList();
        var lightShare = served.Count(w => w == "light");
        Assert.InRange(lightShare, 9, 11);
    }

    [Fact]
    public async Task AClientThatDisconnectsCancelsTheGenerationOnTheBackend()
    {
        await using var host = await WorkerHost.StartAsync(backend: o => o.TokensPerSecond = 5);
        using var http = host.CreateClient();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Body(stream: true) };

        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        var stream = await response.Content.ReadAsStreamAsync(cts.Token);
        await stream.ReadExactlyAsync(new byte[16], cts.Token);
        cts.Cancel();
        response.Dispose();

        await WaitUntil(() => Stat(host.Backend, "cancelled") == 1, "the double sees the abort");
        Assert.Equal(0, Stat(host.Backend, "completed"));
        await WaitUntil(() => Stat(host.Backend, "in_flight") == 0, "the slot is free again");
    }

    [Fact]
    public async Task ABackendThatFailsBeforeTheFirstByteIsRetriedOnAnother()
    {
        await using var host = await WorkerHost.StartAsync(backends: 2);
        await host.Backends[0].InjectAsync("error_500", count: 100);
        await host.Backends[1].InjectAsync("error_500", count: 0);
        using var http = host.CreateClient();

        for (var i = 0; i < 4; i++)
        {
            using var response = await http.PostAsync("/v1/chat/completions", Body(stream: true), TestContext.Current);
            var events = await Sse.ReadAllAsync(response, TestContext.Current);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("[DONE]", events[^1]);
        }
        Assert.Equal(4, Stat(host.Backends[1], "completed"));
    }

    [Fact]
    public async Task AllBackendsFailingGivesAClear503()
    {
        await using var host = await WorkerHost.StartAsync();
        await host.Backend.InjectAsync("error_500", count: 10);
        using var http = host.CreateClient();

        using var response = await http.PostAsync("/v1/chat/completions", Body(), TestContext.Current);
        var json = await response.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("server_error", (string?)json!["error"]!["type"]);
    }

    [Fact]
    public async Task ABackendThatDiesMidStreamEndsTheStreamWithAnErrorEvent()
    {
        await using var host = await WorkerHost.StartAsync(backend: o => o.TokensPerSecond = 100);
        await host.Backend.InjectAsync("drop", afterTokens: 3);
        using var http = host.CreateClient();

        using var response = await http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Body(stream: true) },
            HttpCompletionOption.ResponseHeadersRead, TestContext.Current);
        var events = await Sse.ReadAllAsync(response, TestContext.Current);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain("[DONE]", events);
        var error = Sse.Json(events[^1])["error"]!;
        Assert.Equal("backend_failed", (string?)error["code"]);
        Assert.True(events.Count >= 3, "tokens before the failure were delivered");
    }

    [Fact]
    public async Task ABackendSilentLongerThanTheIdleTimeoutEndsTheStreamButTheFirstTokenMayTakeLonger()
    {
        // A token every 500 ms: the first arrives within FirstByteTimeout, the second breaks the 200 ms idle limit.
        await using var host = await WorkerHost.StartAsync(backend: o => o.TokensPerSecond = 2,
            settings: new Dictionary<string, string?> { ["Inference:IdleTimeout"] = "00:00:00.200", ["Inference:FirstByteTimeout"] = "00:00:10" });
        using var http = host.CreateClient();

        using var response = await http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Body(stream: true) },
            HttpCompletionOption.ResponseHeadersRead, TestContext.Current);
        var events = await Sse.ReadAllAsync(response, TestContext.Current);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains(events, e => e.Contains("reasoning_content", StringComparison.Ordinal));
        Assert.DoesNotContain("[DONE]", events);
        Assert.Equal("backend_failed", (string?)Sse.Json(events[^1])["error"]!["code"]);
    }

    [Fact]
    public async Task AFullQueueAnswers503WithRetryAfter()
    {
        await using var host = await WorkerHost.StartAsync(backend: o => o.TokensPerSecond = 20,
            settings: new Dictionary<string, string?> { ["Inference:DefaultSlots"] = "1", ["Inference:QueueLimit"] = "2" });
        using var http = host.CreateClient();

        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => http.PostAsync("/v1/chat/completions", Body(), TestContext.Current)));

        var rejected = responses.Where(r => r.StatusCode == HttpStatusCode.ServiceUnavailable).ToList();
        Assert.Equal(5, rejected.Count);
        Assert.Equal(3, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        Assert.All(rejected, r => Assert.Equal("1", r.Headers.RetryAfter?.ToString()));
        var json = await rejected[0].Content.ReadFromJsonAsync<JsonNode>(TestContext.Current);
        Assert.Equal("queue_full", (string?)json!["error"]!["code"]);
    }

    [Fact]
    public async Task WaitingLongerThanTheQueueTimeoutAnswers503()
    {
        await using var host = await WorkerHost.StartAsync(backend: o => o.TokensPerSecond = 10,
            settings: new Dictionary<string, string?> { ["Inference:DefaultSlots"] = "1", ["Inference:QueueTimeout"] = "00:00:00.200" });
        using var http = host.CreateClient();

        var responses = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => http.PostAsync("/v1/chat/completions", Body(), TestContext.Current)));

        var timedOut = Assert.Single(responses, r => r.StatusCode == HttpStatusCode.ServiceUnavailable);
        Assert.Equal("queue_timeout", (string?)(await timedOut.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current))!["error"]!["code"]);
    }
}
