using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using OpenAI.Chat;

namespace TeeAspire.Tests;

public sealed class ChatThroughGatewayTests
{
    private static JsonContent Chat(string model = "deepseek-r1", bool stream = false) => JsonContent.Create(new
    {
        model,
        stream,
        messages = new[] { new { role = "user", content = "hello gateway" } },
    });

    [Fact]
    public async Task AKeyListsModelsAndCompletesAChatWithTheSdk()
    {
        await using var host = await GatewayHost.StartAsync();
        var (_, key) = await host.CreateKeyAsync();
        var client = host.OpenAi(key);

        var models = (await client.GetOpenAIModelClient().GetModelsAsync(TestContext.Current)).Value;
        ChatCompletion completion = await client.GetChatClient("deepseek-r1").CompleteChatAsync([new UserChatMessage("hello gateway")], cancellationToken: TestContext.Current);

        Assert.Contains(models, m => m.Id == "deepseek-r1");
        Assert.StartsWith("You said: hello gateway.", completion.Content[0].Text);
    }

    [Fact]
    public async Task StreamsServerSentEventsThroughTheGateway()
    {
        await using var host = await GatewayHost.StartAsync(backend: o => o.TokensPerSecond = 200);
        var (_, key) = await host.CreateKeyAsync();
        using var http = host.Client(key);

        using var response = await http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Chat(stream: true) },
            HttpCompletionOption.ResponseHeadersRead, TestContext.Current);
        var events = await Sse.ReadAllAsync(response, TestContext.Current);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("[DONE]", events[^1]);
        Assert.True(events.Count > 10);
    }

    [Fact]
    public async Task TheWorkerSeesTheKeyIdButNeverTheSecretOrClientInternalHeaders()
    {
        await using var host = await GatewayHost.StartAsync();
        var (id, key) = await host.CreateKeyAsync();
        using var http = host.Client(key);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Chat() };
        request.Headers.Add("x-tee-key-id", "key_spoofed");

        using var response = await http.SendAsync(request, TestContext.Current);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // Usage is recorded by the worker after the response ends; the spoofed key id got nothing.
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(host.Redis.ConnectionString);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((int?)await redis.GetDatabase().HashGetAsync($"tee:usage:{{{id}}}", "requests") != 1 && DateTime.UtcNow < deadline)
            await Task.Delay(20, TestContext.Current);
        Assert.Equal(1, (int?)await redis.GetDatabase().HashGetAsync($"tee:usage:{{{id}}}", "requests"));
        Assert.False(await redis.GetDatabase().KeyExistsAsync("tee:usage:{key_spoofed}"));
    }

    [Fact]
    public async Task AModelOutsideTheKeysAllowlistIs403AndHiddenFromItsModelList()
    {
        await using var host = await GatewayHost.StartAsync();
        var (_, key) = await host.CreateKeyAsync(new { models = new[] { "deepseek-r1-7b" } });
        using var http = host.Client(key);

        using var chat = await http.PostAsync("/v1/chat/completions", Chat("deepseek-r1"), TestContext.Current);
        var models = await http.GetFromJsonAsync<JsonNode>("/v1/models", TestContext.Current);
        using var hidden = await http.GetAsync("/v1/models/deepseek-r1", TestContext.Current);

        Assert.Equal(HttpStatusCode.Forbidden, chat.StatusCode);
        Assert.Equal("permission_error", (string?)(await chat.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current))!["error"]!["type"]);
        Assert.Equal(["deepseek-r1-7b"], models!["data"]!.AsArray().Select(m => (string)m!["id"]!));
        Assert.Equal(HttpStatusCode.NotFound, hidden.StatusCode);
    }

    [Fact]
    public async Task SdkSeesTheStatusOfEachErrorClass()
    {
        await using var host = await GatewayHost.StartAsync();
        var (_, key) = await host.CreateKeyAsync();

        var unauthorized = await Assert.ThrowsAsync<ClientResultException>(() =>
            host.OpenAi("sk-tee-wrong-key-0000000000000000").GetChatClient("deepseek-r1").CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: TestContext.Current));
        var notFound = await Assert.ThrowsAsync<ClientResultException>(() =>
            host.OpenAi(key).GetChatClient("no-such-model").CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: TestContext.Current));
        var badRequest = await Assert.ThrowsAsync<ClientResultException>(() =>
            host.OpenAi(key).GetChatClient("deepseek-r1").CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { TopP = 3f }, TestContext.Current));

        Assert.Equal(401, unauthorized.Status);
        Assert.Equal("invalid_api_key", Code(unauthorized));
        Assert.Equal(404, notFound.Status);
        Assert.Equal("model_not_found", Code(notFound));
        Assert.Equal(400, badRequest.Status);
        Assert.Equal("top_p", (string?)JsonNode.Parse(badRequest.GetRawResponse()!.Content.ToString())!["error"]!["param"]);
    }

    private static string? Code(ClientResultException e) => (string?)JsonNode.Parse(e.GetRawResponse()!.Content.ToString())!["error"]!["code"];

    [Fact]
    public async Task ABodyOverTheLimitIs413AndAWrongContentTypeIs415()
    {
        await using var host = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["Gateway:MaxRequestBytes"] = "1024" });
        var (_, key) = await host.CreateKeyAsync();
        using var http = host.Client(key);
        var big = "{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\"" + new string('x', 4000) + "\"}]}";

        using var tooLarge = await http.PostAsync("/v1/chat/completions", new StringContent(big, Encoding.UTF8, "application/json"), TestContext.Current);
        using var chunked = await http.PostAsync("/v1/chat/completions", new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big))) { Headers = { { "Content-Type", "application/json" } } }, TestContext.Current);
        using var wrongType = await http.PostAsync("/v1/chat/completions", new StringContent("{}", Encoding.UTF8, "text/plain"), TestContext.Current);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, chunked.StatusCode);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, wrongType.StatusCode);
        Assert.Equal(0, Stat(host, "requests"));
    }

    private static int Stat(GatewayHost host, string name) =>
        (int)System.Text.Json.JsonSerializer.SerializeToNode(host.Backend.State.Snapshot())![name]!;

    [Fact]
    public async Task AnUnreachableWorkerIs503InOpenAisEnvelope()
    {
        await using var host = await GatewayHost.StartAsync();
        var (_, key) = await host.CreateKeyAsync();
        var gateway = host.NewGateway(new Dictionary<string, string?> { ["services:inference-worker:http:0"] = $"http://127.0.0.1:{FreePort.Next()}" });
        using var http = host.Client(key, gateway);

        using var response = await http.PostAsync("/v1/chat/completions", Chat(), TestContext.Current);
        var json = await response.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("server_error", (string?)json!["error"]!["type"]);
        Assert.True(response.Headers.Contains("x-request-id"));
    }

    [Fact]
    public async Task AWorkerThatDoesNotAnswerInTimeIs504()
    {
        await using var host = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["Gateway:UpstreamTimeout"] = "00:00:00.500" });
        var (_, key) = await host.CreateKeyAsync();
        await host.Backend.InjectAsync("slow_start", delayMs: 3000);
        using var http = host.Client(key);

        using var response = await http.PostAsync("/v1/chat/completions", Chat(), TestContext.Current);

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("upstream_timeout", (string?)(await response.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current))!["error"]!["code"]);
    }
}

public sealed class StreamingTests
{
    [Fact]
    public async Task TheFirstTokenReachesTheClientWhileTheBackendIsStillGenerating()
    {
        // 5 tokens/s: a whole answer takes seconds. If anything buffered the stream, the first event
        // would arrive only after the backend finished.
        await using var host = await GatewayHost.StartAsync(backend: o => o.TokensPerSecond = 5);
        var (_, key) = await host.CreateKeyAsync();
        using var http = host.Client(key);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = System.Net.Http.Json.JsonContent.Create(new { model = "deepseek-r1", stream = true, messages = new[] { new { role = "user", content = "slowly" } } }),
        };

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, TestContext.Current);
        await using var stream = await response.Content.ReadAsStreamAsync(TestContext.Current);
        using var reader = new StreamReader(stream);
        var reasoningSeen = false;
        while (!reasoningSeen && await reader.ReadLineAsync(TestContext.Current) is { } line)
            reasoningSeen = line.Contains("reasoning_content", StringComparison.Ordinal);
        var snapshot = System.Text.Json.JsonSerializer.SerializeToNode(host.Backend.State.Snapshot())!;

        Assert.True(reasoningSeen);
        Assert.Equal(1, (int)snapshot["in_flight"]!);
        Assert.Equal(0, (int)snapshot["completed"]!);
    }
}
