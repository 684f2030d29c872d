using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace TeeAspire.Tests;

/// <summary>
/// Issue 29, finding 8: in the soak's worker-restart suite, streams in flight ended in a reset
/// connection at the client. A worker process that dies is, to the gateway, a connection that
/// resets: this one takes a request, answers what the test says, then resets (SO_LINGER 0).
/// </summary>
public sealed class DyingWorkerTests
{
    private const string FirstEvent = """data: {"id":"chatcmpl-x","object":"chat.completion.chunk","created":1,"model":"deepseek-r1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}""";

    /// <summary>Accepts one connection, reads the request head and body, sends <paramref name="before"/>, then resets.</summary>
    private static async Task<int> DiesAfterAsync(TcpListener listener, string before, CancellationToken ct)
    {
        using var socket = await listener.AcceptSocketAsync(ct);
        var buffer = new byte[64 * 1024];
        var seen = new StringBuilder();
        // The head, then the Content-Length body the gateway sends in one write.
        while (!seen.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
            seen.Append(Encoding.Latin1.GetString(buffer, 0, await socket.ReceiveAsync(buffer, ct)));
        if (before.Length > 0) await socket.SendAsync(Encoding.UTF8.GetBytes(before), ct);
        socket.LingerState = new LingerOption(true, 0);
        socket.Close();
        return seen.Length;
    }

    /// <summary>The stack with a gateway whose worker is <paramref name="listener"/>, and a client with a key.</summary>
    private static async Task<(GatewayHost Host, HttpClient Http)> StartAsync(TcpListener listener)
    {
        listener.Start();
        var host = await GatewayHost.StartAsync();
        var (_, key) = await host.CreateKeyAsync();
        var gateway = host.NewGateway(new Dictionary<string, string?> { ["services:inference-worker:http:0"] = $"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}" });
        return (host, host.Client(key, gateway));
    }

    [Fact]
    public async Task AStreamWhoseWorkerDiesAfterTheFirstEventEndsWithAnOpenAiErrorEventNotAReset()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        var (host, http) = await StartAsync(listener);
        await using var _ = host;
        using var __ = http;
        var chunk = FirstEvent + "\n\n";
        var worker = DiesAfterAsync(listener,
            $"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n{Encoding.UTF8.GetByteCount(chunk):x}\r\n{chunk}\r\n",
            TestContext.Current);

        using var response = await http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = JsonContent.Create(new { model = "deepseek-r1", stream = true, messages = new[] { new { role = "user", content = "hi" } } }),
        }, HttpCompletionOption.ResponseHeadersRead, TestContext.Current);
        var events = await Sse.ReadAllAsync(response, TestContext.Current);
        await worker.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, events.Count);
        Assert.Equal("upstream_failed", (string?)Sse.Json(events[1])["error"]!["code"]);
        Assert.Equal("server_error", (string?)Sse.Json(events[1])["error"]!["type"]);
        Assert.DoesNotContain("[DONE]", events);
    }

    [Fact]
    public async Task ANonStreamRequestWhoseWorkerDiesIs502InOpenAisEnvelope()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        var (host, http) = await StartAsync(listener);
        await using var _ = host;
        using var __ = http;
        var worker = DiesAfterAsync(listener, "", TestContext.Current);

        using var response = await http.PostAsJsonAsync("/v1/chat/completions",
            new { model = "deepseek-r1", messages = new[] { new { role = "user", content = "hi" } } }, TestContext.Current);
        var json = await response.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current);
        await worker.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("server_error", (string?)json!["error"]!["type"]);
        Assert.Equal("upstream_failed", (string?)json["error"]!["code"]);
    }
}
