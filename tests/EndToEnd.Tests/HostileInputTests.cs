using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace TeeAspire.Tests;

/// <summary>
/// Malformed and abusive requests across every route, against the real gateway process. Each
/// must get a clear 4xx — in OpenAI's envelope when it reaches the application — and none a 5xx;
/// afterwards the system is healthy and serves a valid request.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class HostileInputTests(StackFixture stack)
{
    private const string Valid = """{"model":"deepseek-r1","messages":[{"role":"user","content":"hi"}]}""";
    private const string Chat = "/v1/chat/completions";
    private static readonly SemaphoreSlim KeyLock = new(1, 1);
    private static string? _key;

    private async Task<string> KeyAsync()
    {
        await KeyLock.WaitAsync();
        try { return _key ??= (await stack.CreateKeyAsync(new { name = "hostile" })).Key; }
        finally { KeyLock.Release(); }
    }

    public sealed record Case(string Name, string Method, string Path, string? Body, string? ContentType = "application/json", string Auth = "key", Dictionary<string, string>? Headers = null, byte[]? RawBody = null)
    {
        public override string ToString() => Name;
    }

    private static string Nest(int depth) => new string('[', depth) + new string(']', depth);

    public static TheoryData<Case> Cases() => new(
        // Broken JSON and structure
        new Case("truncated JSON", "POST", Chat, """{"model":"deepseek-r1","messages":["""),
        new Case("not JSON at all", "POST", Chat, "hello there"),
        new Case("empty body", "POST", Chat, ""),
        new Case("JSON array body", "POST", Chat, "[]"),
        new Case("JSON string body", "POST", Chat, "\"chat\""),
        new Case("JSON null body", "POST", Chat, "null"),
        new Case("deeply nested array", "POST", Chat, Nest(10_000)),
        new Case("deeply nested in messages", "POST", Chat, """{"model":"deepseek-r1","messages":""" + Nest(500) + "}"),
        new Case("trailing garbage", "POST", Chat, Valid + "}}}"),
        new Case("duplicate keys with wrong type", "POST", Chat, """{"model":"deepseek-r1","model":5,"messages":[{"role":"user","content":"hi"}]}"""),
        // Wrong types
        new Case("model is a number", "POST", Chat, """{"model":5,"messages":[{"role":"user","content":"hi"}]}"""),
        new Case("model is an object", "POST", Chat, """{"model":{"a":1},"messages":[{"role":"user","content":"hi"}]}"""),
        new Case("messages is an object", "POST", Chat, """{"model":"deepseek-r1","messages":{"role":"user"}}"""),
        new Case("message is a string", "POST", Chat, """{"model":"deepseek-r1","messages":["hi"]}"""),
        new Case("role missing", "POST", Chat, """{"model":"deepseek-r1","messages":[{"content":"hi"}]}"""),
        new Case("role unknown", "POST", Chat, """{"model":"deepseek-r1","messages":[{"role":"root","content":"hi"}]}"""),
        new Case("content is a number", "POST", Chat, """{"model":"deepseek-r1","messages":[{"role":"user","content":42}]}"""),
        new Case("image content part", "POST", Chat, """{"model":"deepseek-r1","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"file:///etc/passwd"}}]}]}"""),
        new Case("stream is a string", "POST", Chat, """{"model":"deepseek-r1","stream":"true","messages":[{"role":"user","content":"hi"}]}"""),
        new Case("stop is a number", "POST", Chat, """{"model":"deepseek-r1","stop":7,"messages":[{"role":"user","content":"hi"}]}"""),
        new Case("seed is a string", "POST", Chat, """{"model":"deepseek-r1","seed":"1","messages":[{"role":"user","content":"hi"}]}"""),
        new Case("tools given", "POST", Chat, """{"model":"deepseek-r1","tools":[{"type":"function","function":{"name":"rm"}}],"messages":[{"role":"user","content":"hi"}]}"""),
        // Out of range
        new Case("temperature 1e308", "POST", Chat, """{"model":"deepseek-r1","temperature":1e308,"messages":[{"role":"user","content":"hi"}]}"""),
        new Case("temperature -1", "POST", Chat, """{"model":"deepseek-r1","temperature":-1,"messages":[{"role":"user","content":"hi"}]}"""),
        new Case("top_p 2", "POST", Chat, """{"model":"deepseek-r1","top_p":2,"messages":[{"role":"user","content":"hi"}]}"""),
        new Case("max_tokens huge", "POST", Chat, """{"model":"deepseek-r1","max_tokens":99999999999,"messages":[{"role":"user","content":"hi"}]}"""),
        new Case("max_tokens negative", "POST", Chat, """{"model":"deepseek-r1","max_tokens":-5,"messages":[{"role":"user","content":"hi"}]}"""),
        new Case("n = 5", "POST", Chat, """{"model":"deepseek-r1","n":5,"messages":[{"role":"user","content":"hi"}]}"""),
        new Case("five stop sequences", "POST", Chat, """{"model":"deepseek-r1","stop":["a","b","c","d","e"],"messages":[{"role":"user","content":"hi"}]}"""),
        new Case("empty messages", "POST", Chat, """{"model":"deepseek-r1","messages":[]}"""),
        new Case("model name 10k chars", "POST", Chat, "{\"model\":\"" + new string('m', 10_000) + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"),
        new Case("unknown model", "POST", Chat, """{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}"""),
        new Case("model with control characters", "POST", Chat, "{\"model\":\"deep\\u0000seek\\r\\n\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"),
        // Encodings and content types
        new Case("invalid UTF-8", "POST", Chat, null, RawBody: [.. "{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\""u8.ToArray(), 0xff, 0xfe, 0xc3, .. "\"}]}"u8.ToArray()]),
        new Case("UTF-16 body", "POST", Chat, null, "application/json", RawBody: Encoding.Unicode.GetBytes(Valid)),
        new Case("text/plain", "POST", Chat, Valid, "text/plain"),
        new Case("form body", "POST", Chat, "model=deepseek-r1", "application/x-www-form-urlencoded"),
        new Case("multipart", "POST", Chat, Valid, "multipart/form-data; boundary=x"),
        new Case("no content type", "POST", Chat, Valid, null),
        new Case("xml", "POST", Chat, "<chat/>", "application/xml"),
        new Case("body over 1 MiB", "POST", Chat, "{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\"" + new string('x', 1_100_000) + "\"}]}"),
        // Keys
        new Case("no key", "POST", Chat, Valid, Auth: "none"),
        new Case("wrong key", "POST", Chat, Valid, Auth: "Bearer sk-tee-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        new Case("oversized key", "POST", Chat, Valid, Auth: "Bearer sk-tee-" + new string('k', 4000)),
        new Case("key with spaces", "POST", Chat, Valid, Auth: "Bearer sk-tee- spaced key 000000000"),
        new Case("basic auth", "POST", Chat, Valid, Auth: "Basic YWRtaW46YWRtaW4="),
        new Case("bearer without token", "POST", Chat, Valid, Auth: "Bearer "),
        new Case("master key on /v1", "POST", Chat, Valid, Auth: "master-as-user"),
        new Case("sql in key", "GET", "/v1/models", null, Auth: "Bearer ' OR 1=1;--xxxxxxxxxxxxx"),
        new Case("spoofed internal key id", "GET", "/v1/models", null, Auth: "none", Headers: new() { ["x-tee-key-id"] = "key_000000000000000000000000" }),
        // Paths and methods
        new Case("path traversal in signature id", "GET", "/v1/signature/..%2f..%2fadmin%2fkeys", null),
        new Case("traversal in model id", "GET", "/v1/models/..%2f..%2fadmin", null),
        new Case("unknown route", "GET", "/v1/fine-tuning/jobs", null),
        new Case("GET on chat", "GET", Chat, null),
        new Case("DELETE on models", "DELETE", "/v1/models", null),
        new Case("PUT on admin keys", "PUT", "/admin/keys", "{}", Auth: "master"),
        new Case("internal key registry through the gateway", "POST", "/internal/keys", "{}", Auth: "none"),
        // Attestation
        new Case("short nonce", "GET", "/attestation?nonce=abcd", null, Auth: "none"),
        new Case("non-hex nonce", "GET", "/attestation?nonce=" + new string('z', 32), null, Auth: "none"),
        new Case("huge nonce", "GET", "/attestation?nonce=" + new string('a', 4096), null, Auth: "none"),
        new Case("two nonces", "GET", "/attestation?nonce=00112233445566778899aabbccddeeff&nonce=00112233445566778899aabbccddeeff", null, Auth: "none"),
        new Case("injection in nonce", "GET", "/attestation?nonce=%3Bcat%20%2Fetc%2Fpasswd", null, Auth: "none"),
        new Case("extra parameter", "GET", "/v1/attestation/report?nonce=00112233445566778899aabbccddeeff&debug=1", null, Auth: "none"),
        // Admin abuse
        new Case("admin without key", "GET", "/admin/keys", null, Auth: "none"),
        new Case("admin with a user key", "GET", "/admin/keys", null),
        new Case("admin with a near-miss master", "GET", "/admin/keys", null, Auth: "near-master"),
        new Case("admin create with negative rpm", "POST", "/admin/keys", """{"rpm":-1}""", Auth: "master"),
        new Case("admin create with a huge name", "POST", "/admin/keys", "{\"name\":\"" + new string('n', 5000) + "\"}", Auth: "master"),
        new Case("admin create with unknown field", "POST", "/admin/keys", """{"role":"admin"}""", Auth: "master"),
        new Case("admin create importing a short secret", "POST", "/admin/keys", """{"secret":"123"}""", Auth: "master"),
        new Case("admin patch changing the secret", "PATCH", "/admin/keys/key_000000000000000000000000", """{"secret":"sk-tee-xxxxxxxxxxxxxxxxxxx"}""", Auth: "master"),
        new Case("admin get a traversal id", "GET", "/admin/keys/..%2F..%2Fetc", null, Auth: "master"),
        new Case("admin delete an unknown id", "DELETE", "/admin/keys/key_ffffffffffffffffffffffff", null, Auth: "master"),
        new Case("admin body nested", "POST", "/admin/keys", "{\"models\":" + Nest(200) + "}", Auth: "master"));

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task EachGetsAClear4xxAndNever5xx(Case c)
    {
        // /admin lives on its own listener; there it meets the master-key checks.
        using var http = c.Path.StartsWith("/admin", StringComparison.Ordinal) ? new HttpClient { BaseAddress = stack.Admin } : stack.Client();
        using var request = new HttpRequestMessage(new HttpMethod(c.Method), c.Path);
        var auth = c.Auth switch
        {
            "key" => "Bearer " + await KeyAsync(),
            "master" => "Bearer " + stack.MasterKey,
            "master-as-user" => "Bearer " + stack.MasterKey,
            "near-master" => "Bearer " + stack.MasterKey[..^1] + "x",
            "none" => null,
            var raw => raw,
        };
        if (auth is not null) request.Headers.TryAddWithoutValidation("Authorization", auth);
        foreach (var (k, v) in c.Headers ?? []) request.Headers.TryAddWithoutValidation(k, v);
        if (c.Body is not null || c.RawBody is not null)
        {
            request.Content = new ByteArrayContent(c.RawBody ?? Encoding.UTF8.GetBytes(c.Body!));
            if (c.ContentType is not null) request.Content.Headers.TryAddWithoutValidation("Content-Type", c.ContentType);
        }

        using var response = await http.SendAsync(request, TestContext.Current);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current);

        Assert.InRange((int)response.StatusCode, 400, 499);
        if (c.Path.StartsWith("/v1", StringComparison.Ordinal) || c.Path.StartsWith("/admin", StringComparison.Ordinal))
        {
            var error = JsonNode.Parse(body)!["error"]!;
            Assert.False(string.IsNullOrWhiteSpace((string?)error["message"]));
            Assert.NotNull((string?)error["type"]);
        }
        Assert.True(response.Headers.Contains("x-request-id"));
    }

    private async Task<string> RawAsync(byte[] request, TimeSpan? readFor = null, bool halfClose = false)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, stack.Gateway.Port, TestContext.Current);
        var stream = tcp.GetStream();
        await stream.WriteAsync(request, TestContext.Current);
        if (halfClose) tcp.Client.Shutdown(SocketShutdown.Send);
        using var timeout = new CancellationTokenSource(readFor ?? TimeSpan.FromSeconds(30));
        var buffer = new byte[8192];
        try
        {
            var read = await stream.ReadAsync(buffer, timeout.Token);
            return Encoding.ASCII.GetString(buffer, 0, read);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            return "";
        }
    }

    private static int StatusOf(string response) =>
        response.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) ? int.Parse(response.AsSpan(9, 3)) : 0;

    [Fact]
    public async Task HugeHeadersAre431()
    {
        var request = Encoding.ASCII.GetBytes($"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: {new string('h', 64 * 1024)}\r\n\r\n");
        Assert.Equal(431, StatusOf(await RawAsync(request)));
    }

    [Fact]
    public async Task HeaderInjectionInTheRequestIdIsNotReflected()
    {
        var response = await RawAsync(Encoding.ASCII.GetBytes("GET /v1/models HTTP/1.1\r\nHost: x\r\nx-request-id: abc%0d%0aSet-Cookie:%20evil=1\r\n\r\n"));
        Assert.Equal(401, StatusOf(response));
        Assert.DoesNotContain("Set-Cookie", response, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("evil", response);
    }

    [Fact]
    public async Task AMalformedRequestLineIs400()
    {
        Assert.Equal(400, StatusOf(await RawAsync(Encoding.ASCII.GetBytes("GARBAGE\r\n\r\n"))));
    }

    [Fact]
    public async Task AHalfSentBodyIsNotAServerError()
    {
        var key = await KeyAsync();
        var request = Encoding.ASCII.GetBytes($"POST {Chat} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{{\"model\":\"deep");
        var response = await RawAsync(request, halfClose: true);
        var status = StatusOf(response);
        Assert.True(status is 0 or (>= 400 and < 500), $"got {status}");
    }

    [Fact]
    public async Task ASlowClientIsCutOffWithoutHarm()
    {
        var key = await KeyAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, stack.Gateway.Port, TestContext.Current);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST {Chat} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"), TestContext.Current);
        // A few bytes, then silence: Kestrel's minimum data rate ends it (408 or a closed connection).
        await stream.WriteAsync("{\"m"u8.ToArray(), TestContext.Current);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        var buffer = new byte[4096];
        string text;
        try
        {
            var read = await stream.ReadAsync(buffer, timeout.Token);
            text = Encoding.ASCII.GetString(buffer, 0, read);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            text = "";
        }
        var status = StatusOf(text);
        Assert.True(status is 0 or (>= 400 and < 500), $"got {status}");
    }

    [Fact]
    public async Task AfterwardsTheSystemIsHealthyAndServes()
    {
        using var http = stack.Client(await KeyAsync());
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health", TestContext.Current)).StatusCode);
        // Other suites in this collection inject backend faults; wait until the worker is ready again.
        await stack.WaitForWorkerHealthyAsync();
        using var response = await http.PostAsync(Chat, new StringContent(Valid, Encoding.UTF8, "application/json"), TestContext.Current);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
