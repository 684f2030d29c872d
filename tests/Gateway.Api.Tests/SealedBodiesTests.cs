using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using TeeAspire.Attestation.Verifier.Sealing;

namespace TeeAspire.Tests;

/// <summary>EHBP through the real gateway, worker and Ollama double.</summary>
public sealed class SealedBodiesTests
{
    private const string PromptCanary = "zqxpromptcanary7f3a";
    private static readonly string ChatJson = $$"""{"model":"deepseek-r1","messages":[{"role":"user","content":"hello {{PromptCanary}}"}]}""";
    private static readonly string StreamJson = $$"""{"model":"deepseek-r1","stream":true,"messages":[{"role":"user","content":"hello {{PromptCanary}}"}]}""";

    private static async Task<byte[]> GatewayKeyAsync(HttpClient http)
    {
        using var response = await http.GetAsync(Ehbp.KeysPath, TestContext.Current);
        Assert.Equal(Ehbp.KeysMediaType, response.Content.Headers.ContentType?.MediaType);
        Assert.True(EhbpKeyConfig.TryParse(await response.Content.ReadAsByteArrayAsync(TestContext.Current), out var config, out var reason), reason);
        return config.PublicKey;
    }

    private static HttpClient Sealed(WebApplicationFactory<Program> gateway, byte[] publicKey, string key)
    {
        var client = new HttpClient(new EhbpHandler(publicKey, gateway.Server.CreateHandler())) { BaseAddress = gateway.Server.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    private static HttpRequestMessage Post(string json) =>
        new(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(json, Encoding.UTF8, "application/json") };

    [Fact]
    public async Task ServesItsKeyConfigurationAtTheWellKnownPath()
    {
        await using var host = await GatewayHost.StartAsync();
        using var http = host.Client();
        using var response = await http.GetAsync(Ehbp.KeysPath, TestContext.Current);
        var bytes = await response.Content.ReadAsByteArrayAsync(TestContext.Current);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/ohttp-keys", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(1 + 2 + 32 + 2 + 4, bytes.Length);
        Assert.Equal([0x00, 0x00, 0x20], bytes[..3]);
        Assert.Equal([0x00, 0x04, 0x00, 0x01, 0x00, 0x02], bytes[^6..]);
    }

    [Fact]
    public async Task ASealedChatIsOpenedAnsweredAndSealedBack()
    {
        await using var host = await GatewayHost.StartAsync();
        var (_, key) = await host.CreateKeyAsync();
        using var http = Sealed(host.Gateway, await GatewayKeyAsync(host.Client()), key);

        using var response = await http.SendAsync(Post(ChatJson), TestContext.Current);
        var answer = await response.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(64, response.Headers.GetValues(Ehbp.ResponseNonceHeader).Single().Length);
        Assert.StartsWith($"You said: hello {PromptCanary}.", (string)answer!["choices"]![0]!["message"]!["content"]!);
    }

    [Fact]
    public async Task ASealedStreamArrivesEventByEvent()
    {
        await using var host = await GatewayHost.StartAsync(backend: o => o.TokensPerSecond = 200);
        var (_, key) = await host.CreateKeyAsync();
        using var http = Sealed(host.Gateway, await GatewayKeyAsync(host.Client()), key);

        using var response = await http.SendAsync(Post(StreamJson), HttpCompletionOption.ResponseHeadersRead, TestContext.Current);
        var events = await Sse.ReadAllAsync(response, TestContext.Current);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("[DONE]", events[^1]);
        Assert.True(events.Count > 10);
        Assert.Contains(events, e => e.Contains(PromptCanary, StringComparison.Ordinal));
    }

    [Fact]
    public async Task ASealedStreamsFirstEventArrivesBeforeTheAnswerEnds()
    {
        // 4 tokens a second for 2,400 tokens: the whole answer takes ten minutes, so a first event
        // within the test's minute was sealed and sent as it was written, not held for the end.
        await using var host = await GatewayHost.StartAsync(backend: o => { o.TokensPerSecond = 4; o.AnswerTokens = 2400; });
        var (_, key) = await host.CreateKeyAsync();
        using var http = Sealed(host.Gateway, await GatewayKeyAsync(host.Client()), key);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current);
        timeout.CancelAfter(TimeSpan.FromMinutes(1));

        using var response = await http.SendAsync(Post(StreamJson), HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        await using var events = Sse.ReadDataAsync(response, timeout.Token).GetAsyncEnumerator(timeout.Token);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(await events.MoveNextAsync());
        Assert.NotEqual("[DONE]", events.Current);
    }

    [Fact]
    public async Task AnswersOfLaterStagesAreSealedToo()
    {
        await using var host = await GatewayHost.StartAsync();
        using var http = Sealed(host.Gateway, await GatewayKeyAsync(host.Client()), "sk-tee-not-a-real-key-0000000000");

        using var response = await http.SendAsync(Post(ChatJson), TestContext.Current);
        var error = await response.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.True(response.Headers.Contains(Ehbp.ResponseNonceHeader));
        Assert.Equal("invalid_request_error", (string?)error!["error"]!["type"] ?? "invalid_request_error");
        Assert.NotNull(error["error"]!["message"]);
    }

    [Fact]
    public async Task ARequestSealedToAnotherKeyGets422KeyConfigProblem()
    {
        await using var host = await GatewayHost.StartAsync();
        var (_, key) = await host.CreateKeyAsync();
        using var http = Sealed(host.Gateway, X25519KeyPair.Generate().PublicKey, key);

        using var response = await http.SendAsync(Post(ChatJson), TestContext.Current);
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current))!;

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(Ehbp.KeyConfigProblemType, (string?)problem["type"]);
        Assert.False(response.Headers.Contains(Ehbp.ResponseNonceHeader));
    }

    [Fact]
    public async Task AKeyFromAnEarlierStartIsStaleAfterRotation()
    {
        await using var host = await GatewayHost.StartAsync();
        var (_, key) = await host.CreateKeyAsync();
        var oldKey = await GatewayKeyAsync(host.Client());
        var restarted = host.NewGateway(); // a new start makes a new key
        using var http = Sealed(restarted, oldKey, key);

        using var response = await http.SendAsync(Post(ChatJson), TestContext.Current);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.NotEqual(oldKey, await GatewayKeyAsync(host.Client(gateway: restarted)));
    }

    public static TheoryData<string> MalformedBodies => new()
    {
        "truncated-prefix", "truncated-chunk", "second-chunk-forged", "garbage-third-frame", "reordered-chunks",
    };

    [Theory, MemberData(nameof(MalformedBodies))]
    public async Task AMalformedSealedBodyGets400WithoutDetail(string kind)
    {
        await using var host = await GatewayHost.StartAsync();
        var (_, key) = await host.CreateKeyAsync();
        var publicKey = await GatewayKeyAsync(host.Client());
        var (enc, context) = Hpke.X25519Sha256Aes256Gcm.SetupBaseSender(publicKey, Ehbp.RequestInfo);
        var first = Ehbp.Frame(context.Seal([], Encoding.UTF8.GetBytes(ChatJson)[..10]));
        var second = Ehbp.Frame(context.Seal([], Encoding.UTF8.GetBytes(ChatJson)[10..]));
        byte[] body = kind switch
        {
            "truncated-prefix" => [.. first, .. second, 0x00, 0x00],
            "truncated-chunk" => [.. first, .. second[..^3]],
            "second-chunk-forged" => [.. first, .. second[..^1], (byte)(second[^1] ^ 1)],
            "garbage-third-frame" => [.. first, .. second, 0x00, 0x00, 0x00, 0x03, 0x01, 0x02, 0x03],
            _ => [.. first, .. first],
        };
        using var http = host.Client(key);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add(Ehbp.EncapsulatedKeyHeader, Ehbp.Hex(enc));

        using var response = await http.SendAsync(request, TestContext.Current);
        var error = await response.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_sealed_body", (string?)error!["error"]!["code"]);
    }

    [Theory]
    [InlineData("not-hex")]
    [InlineData("00")]
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000")] // a small-order point
    public async Task AMalformedEncapsulatedKeyGets400(string header)
    {
        await using var host = await GatewayHost.StartAsync();
        var (_, key) = await host.CreateKeyAsync();
        using var http = host.Client(key);
        using var request = Post(ChatJson);
        request.Headers.Add(Ehbp.EncapsulatedKeyHeader, header);

        using var response = await http.SendAsync(request, TestContext.Current);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task TheBodyCapAppliesToTheOpenedBody()
    {
        await using var host = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["Gateway:MaxRequestBytes"] = "200" });
        var (_, key) = await host.CreateKeyAsync();
        var publicKey = await GatewayKeyAsync(host.Client());
        using var http = Sealed(host.Gateway, publicKey, key);
        var big = $$"""{"model":"deepseek-r1","messages":[{"role":"user","content":"{{new string('a', 300)}}"}]}""";
        // The same body in 100-byte chunks: every frame is small, the opened whole is not.
        var (enc, context) = Hpke.X25519Sha256Aes256Gcm.SetupBaseSender(publicKey, Ehbp.RequestInfo);
        var plain = Encoding.UTF8.GetBytes(big);
        var chunked = plain.Chunk(100).SelectMany(c => Ehbp.Frame(context.Seal([], c))).ToArray();
        using var raw = host.Client(key);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new ByteArrayContent(chunked) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add(Ehbp.EncapsulatedKeyHeader, Ehbp.Hex(enc));

        using var oneFrame = await http.SendAsync(Post(big), TestContext.Current);
        using var manyFrames = await raw.SendAsync(request, TestContext.Current);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, oneFrame.StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, manyFrames.StatusCode);
        Assert.True(manyFrames.Headers.Contains(Ehbp.ResponseNonceHeader)); // refused by the route, after opening: sealed
    }

    [Fact]
    public async Task AKeyThatRequiresSealingRefusesPlaintextAndSaysHowToSeal()
    {
        await using var host = await GatewayHost.StartAsync();
        var (id, key) = await host.CreateKeyAsync(new { name = "sealed-only", require_sealed = true });
        using var plain = host.Client(key);

        using var refused = await plain.SendAsync(Post(ChatJson), TestContext.Current);
        var error = await refused.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current);
        using var models = await plain.GetAsync("/v1/models", TestContext.Current); // bodyless: cannot be sealed (SPEC.md §7.4)
        using var http = Sealed(host.Gateway, await GatewayKeyAsync(host.Client()), key);
        using var accepted = await http.SendAsync(Post(ChatJson), TestContext.Current);
        using var admin = host.Admin();
        var view = await admin.GetFromJsonAsync<JsonNode>($"/admin/keys/{id}", TestContext.Current);

        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal("sealed_body_required", (string?)error!["error"]!["code"]);
        Assert.Contains("/.well-known/hpke-keys", (string)error["error"]!["message"]!);
        Assert.Contains("tee-verify proxy", (string)error["error"]!["message"]!);
        Assert.Equal(HttpStatusCode.OK, models.StatusCode);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        Assert.True((bool)view!["require_sealed"]!);
    }

    [Fact]
    public async Task RequireSealedCanBeSwitchedAndMustBeABoolean()
    {
        await using var host = await GatewayHost.StartAsync();
        var (id, key) = await host.CreateKeyAsync();
        using var admin = host.Admin();
        using var bad = await admin.PatchAsJsonAsync($"/admin/keys/{id}", new { require_sealed = "yes" }, TestContext.Current);
        using var on = await admin.PatchAsJsonAsync($"/admin/keys/{id}", new { require_sealed = true }, TestContext.Current);
        using var plain = host.Client(key);
        using var refused = await plain.SendAsync(Post(ChatJson), TestContext.Current);

        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal(HttpStatusCode.OK, on.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
    }

    [Fact]
    public async Task TheEdgeSeesNoCanaryInSealedExchangesButDoesInClearOnes()
    {
        await using var host = await GatewayHost.StartAsync(backend: o => o.TokensPerSecond = 200);
        var (_, key) = await host.CreateKeyAsync();
        var gateway = StartOnKestrel(host, out var gatewayUrl);
        await using var sealedEdge = new RecordingRelay(gatewayUrl);
        await using var clearEdge = new RecordingRelay(gatewayUrl);
        using var keys = new HttpClient { BaseAddress = gatewayUrl, Timeout = TimeSpan.FromSeconds(30) };
        var publicKey = await GatewayKeyAsync(keys);

        using (var http = new HttpClient(new EhbpHandler(publicKey, new SocketsHttpHandler())) { BaseAddress = sealedEdge.Address, Timeout = TimeSpan.FromSeconds(30) })
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            using var chat = await http.SendAsync(Post(ChatJson), TestContext.Current);
            Assert.Contains(PromptCanary, await chat.Content.ReadAsStringAsync(TestContext.Current));
            using var stream = await http.SendAsync(Post(StreamJson), HttpCompletionOption.ResponseHeadersRead, TestContext.Current);
            Assert.Contains(await Sse.ReadAllAsync(stream, TestContext.Current), e => e.Contains(PromptCanary, StringComparison.Ordinal));
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "sk-tee-wrong-key-000000000000000");
            using var error = await http.SendAsync(Post(ChatJson), TestContext.Current);
            Assert.Equal(HttpStatusCode.Unauthorized, error.StatusCode);
            Assert.Contains("API key", await error.Content.ReadAsStringAsync(TestContext.Current));
        }
        using (var http = new HttpClient { BaseAddress = clearEdge.Address, Timeout = TimeSpan.FromSeconds(30) })
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            using var chat = await http.SendAsync(Post(ChatJson), TestContext.Current);
            await chat.Content.ReadAsStringAsync(TestContext.Current);
        }

        Assert.False(sealedEdge.Saw(PromptCanary));
        Assert.False(sealedEdge.Saw("You said"));
        Assert.False(sealedEdge.Saw("API key provided"));
        Assert.True(sealedEdge.Saw(key)); // headers stay visible: the edge still sees the API key
        Assert.True(clearEdge.Saw(PromptCanary));
        Assert.True(clearEdge.Saw("You said"));
        GC.KeepAlive(gateway);
    }

    internal static WebApplicationFactory<Program> StartOnKestrel(GatewayHost host, out Uri url)
    {
        for (var attempt = 1; ; attempt++)
        {
            var port = FreePort.Next();
            var gateway = host.NewGateway();
            gateway.UseKestrel(o => o.Listen(IPAddress.Loopback, port));
            try
            {
                gateway.StartServer();
                url = new Uri($"http://127.0.0.1:{port}");
                return gateway;
            }
            catch (IOException) when (attempt < 5)
            {
            }
        }
    }
}

/// <summary>The third-party `ehbp` npm client (tests/Interop.Node) against the gateway on a real socket.</summary>
public sealed class EhbpInteropTests
{
    [Fact]
    public async Task TheThirdPartyEhbpClientChatsAndStreamsWithTheGateway()
    {
        var dir = Path.Combine(RepoRoot(), "tests", "Interop.Node");
        Assert.True(Directory.Exists(Path.Combine(dir, "node_modules", "ehbp")),
            "the ehbp npm package is not installed: run 'npm ci --prefix tests/Interop.Node' (scripts/test.sh does)");
        await using var host = await GatewayHost.StartAsync(backend: o => o.TokensPerSecond = 200);
        var (_, key) = await host.CreateKeyAsync();
        var gateway = SealedBodiesTests.StartOnKestrel(host, out var url);
        var (exit, text) = await NodeScript.RunAsync(dir, ["--test", "ehbp.test.mjs"],
            new Dictionary<string, string> { ["GATEWAY_URL"] = url.ToString().TrimEnd('/'), ["TEE_KEY"] = key });

        Assert.True(exit == 0, text);
        Assert.Contains("# fail 0", text);
        Assert.Contains("# pass 3", text);
        GC.KeepAlive(gateway);
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "TeeAspire.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}
