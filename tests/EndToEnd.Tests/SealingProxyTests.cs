using System.ClientModel;
using System.ClientModel.Primitives;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using OpenAI;
using OpenAI.Chat;
using TeeAspire.Attestation.Verifier.Sealing;

namespace TeeAspire.Tests;

/// <summary>
/// <c>tee-verify proxy</c> (the CLI, as a process) between unchanged OpenAI clients and the
/// running stack: it verifies the report, seals every body to the attested key and passes on only
/// answers whose signature verifies. A <see cref="RecordingRelay"/> between proxy and gateway is
/// the edge: it records every byte and, in the refusal tests, changes what it relays.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class SealingProxyTests(StackFixture stack)
{
    private static string NewCanary() => "CANARY-proxy-" + Guid.NewGuid().ToString("N");

    private static OpenAIClient Sdk(Uri proxy, string key) => new(new ApiKeyCredential(key), new OpenAIClientOptions
    {
        Endpoint = new Uri(proxy, "/v1"),
        RetryPolicy = new ClientRetryPolicy(0),
        NetworkTimeout = TimeSpan.FromSeconds(60),
    });

    [Fact]
    public async Task TheOpenAiSdkWorksUnchangedThroughTheProxyAndTheEdgeSeesNoPromptOrAnswer()
    {
        var (_, key) = await stack.CreateKeyAsync();
        await using var edge = new RecordingRelay(stack.Gateway);
        await using var proxy = await SealingProxy.StartAsync(edge.Address);
        var canary = NewCanary();
        var client = Sdk(proxy.Url, key);

        var models = (await client.GetOpenAIModelClient().GetModelsAsync(TestContext.Current)).Value;
        ChatCompletion completion = await client.GetChatClient("deepseek-r1").CompleteChatAsync([new UserChatMessage($"hello {canary}")], cancellationToken: TestContext.Current);
        var streamed = "";
        var updates = 0;
        await foreach (var update in client.GetChatClient("deepseek-r1").CompleteChatStreamingAsync([new UserChatMessage($"stream {canary}")], cancellationToken: TestContext.Current))
        {
            updates++;
            foreach (var part in update.ContentUpdate) streamed += part.Text;
        }

        Assert.Contains(models, m => m.Id == "deepseek-r1");
        Assert.StartsWith($"You said: hello {canary}.", completion.Content[0].Text);
        Assert.StartsWith($"You said: stream {canary}.", streamed);
        Assert.True(updates > 5, $"{updates} stream updates");
        Assert.True(edge.Saw("POST /v1/chat/completions") && edge.Saw(Ehbp.EncapsulatedKeyHeader), "the requests did not pass the edge sealed");
        Assert.False(edge.Saw(canary), "the edge saw a prompt or an answer");
        Assert.False(edge.Saw("You said"), "the edge saw an answer");
    }

    [Fact]
    public async Task AStreamComesThroughChunkByChunkAndEndsWithDone()
    {
        var (_, key) = await stack.CreateKeyAsync();
        await using var proxy = await SealingProxy.StartAsync(stack.Gateway);

        var (reads, events) = await StreamRawAsync(proxy.Url, key, "chunk by chunk");

        // A proxy that buffered the answer would hand it over in one or two reads. (More than that
        // is all a busy machine guarantees: the tokens come 2.5 ms apart, and a reader held off
        // the CPU for longer finds several in one read — 4 reads in one CI run with a load of 15.)
        Assert.True(reads > 2, $"the stream arrived in {reads} reads");
        Assert.Equal("[DONE]", events[^1]);
        Assert.StartsWith("You said: chunk by chunk.", Content(events.SkipLast(1)));
    }

    [Fact]
    public async Task TheOpenAiNpmClientWorksThroughTheProxyStreamingIncluded()
    {
        var dir = Path.Combine(StackFixture.RepoRoot, "tests", "EndToEnd.Node");
        Assert.True(Directory.Exists(Path.Combine(dir, "node_modules", "openai")),
            "the openai npm package is not installed: run 'npm ci --prefix tests/EndToEnd.Node' (scripts/test.sh does)");
        var (_, key) = await stack.CreateKeyAsync(new { name = "node-proxy" });
        await using var edge = new RecordingRelay(stack.Gateway);
        await using var proxy = await SealingProxy.StartAsync(edge.Address);
        var canary = NewCanary();
        var (exit, text) = await NodeScript.RunAsync(dir, ["--test", "proxy.test.mjs"],
            new Dictionary<string, string> { ["PROXY_URL"] = proxy.Url.ToString().TrimEnd('/'), ["TEE_KEY"] = key, ["CANARY"] = canary },
            cancellationToken: TestContext.Current);

        Assert.True(exit == 0, text);
        Assert.Contains("# pass 3", text);
        Assert.Contains("# fail 0", text);
        Assert.True(edge.Saw(Ehbp.EncapsulatedKeyHeader), "the requests did not pass the edge sealed");
        Assert.False(edge.Saw(canary), "the edge saw a prompt or an answer");
    }

    [Fact]
    public async Task APolicyTheReportDoesNotSatisfyIsRefusedAndThePromptNeverLeaves()
    {
        var (_, key) = await stack.CreateKeyAsync();
        var policy = Path.Combine(stack.RunDir, $"policy-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(policy, $$"""{ "pcrs": { "0": "{{new string('a', 64)}}" } }""", TestContext.Current);
        await using var edge = new RecordingRelay(stack.Gateway);
        await using var proxy = await SealingProxy.StartAsync(edge.Address, "--policy", policy);
        var canary = NewCanary();

        var refused = await Assert.ThrowsAsync<ClientResultException>(() =>
            Sdk(proxy.Url, key).GetChatClient("deepseek-r1").CompleteChatAsync([new UserChatMessage(canary)], cancellationToken: TestContext.Current));

        Assert.Contains("REFUSED: attestation_failed", proxy.Output);
        Assert.Contains("FAIL policy.pcr0", proxy.Output);
        Assert.Equal(503, refused.Status);
        var error = JsonNode.Parse(refused.GetRawResponse()!.Content.ToString())!["error"]!;
        Assert.Equal("attestation_failed", (string?)error["code"]);
        Assert.Contains("policy.pcr0", (string?)error["message"]);
        Assert.True(edge.Saw("GET /attestation?nonce="), "the proxy never asked for a report");
        Assert.False(edge.Saw("POST /v1/chat/completions"), "the proxy sent the prompt to a service its policy refused");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("sk-tee-wrong-key-000000000000000000000000000000")]
    public async Task NoKeyOrAWrongKeyGetsTheGatewaysSealed401AndAForgedInternalHeaderNeverLeaves(string? key)
    {
        await using var edge = new RecordingRelay(stack.Gateway);
        await using var proxy = await SealingProxy.StartAsync(edge.Address);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(proxy.Url, "/v1/chat/completions"))
        {
            Content = new StringContent("""{"model":"deepseek-r1","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"),
        };
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        request.Headers.TryAddWithoutValidation("x-tee-internal-token", "forged-internal-token-0000000000000000");
        request.Headers.TryAddWithoutValidation("x-tee-key-id", "key_forged");

        using var response = await http.SendAsync(request, TestContext.Current);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current))!["error"]!;

        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("invalid_api_key", (string?)error["code"]);
        Assert.True(edge.Saw(Ehbp.EncapsulatedKeyHeader), "the request did not pass the edge sealed");
        Assert.False(edge.Saw("forged-internal-token"), "the proxy forwarded a client's internal header");
        Assert.False(edge.Saw("key_forged"), "the proxy forwarded a client's key-id header");
    }

    [Fact]
    public async Task ASealingKeyTheKeySetDoesNotListIsRefusedAndThePromptNeverLeaves()
    {
        // The edge swaps the gateway's key config for one with another public key (one bit of it):
        // the report's key set does not list it, so the proxy must not seal anything to it.
        var (_, key) = await stack.CreateKeyAsync();
        await using var edge = new RecordingRelay(stack.Gateway, FlipKeyConfig());
        await using var proxy = await SealingProxy.StartAsync(edge.Address);
        var canary = NewCanary();

        var refused = await Assert.ThrowsAsync<ClientResultException>(() =>
            Sdk(proxy.Url, key).GetChatClient("deepseek-r1").CompleteChatAsync([new UserChatMessage(canary)], cancellationToken: TestContext.Current));

        Assert.Equal(503, refused.Status);
        var error = JsonNode.Parse(refused.GetRawResponse()!.Content.ToString())!["error"]!;
        Assert.Equal("attestation_failed", (string?)error["code"]);
        Assert.True(((string?)error["message"])!.Contains("not in the attested key set"), (string?)error["message"] + "\n" + proxy.Output);
        Assert.True(edge.Saw("GET /.well-known/hpke-keys"), "the proxy never fetched the key config");
        Assert.False(edge.Saw("POST /v1/chat/completions"), "the proxy sealed a prompt to a key the report does not bind");
        Assert.False(edge.Saw(canary));
    }

    /// <summary>Flips one bit of the X25519 key in every <c>application/ohttp-keys</c> answer (the key starts 3 bytes into the body).</summary>
    private static Action<byte[], int> FlipKeyConfig()
    {
        var bodyNext = false;
        return (buffer, count) =>
        {
            var text = Encoding.Latin1.GetString(buffer, 0, count);
            int bodyStart;
            if (bodyNext)
            {
                bodyStart = 0;
                bodyNext = false;
            }
            else
            {
                var at = text.IndexOf("application/ohttp-keys", StringComparison.OrdinalIgnoreCase);
                if (at < 0) return;
                var end = text.IndexOf("\r\n\r\n", at, StringComparison.Ordinal);
                if (end < 0 || end + 4 >= count)
                {
                    bodyNext = true;
                    return;
                }
                bodyStart = end + 4;
            }
            if (bodyStart + 10 < count) buffer[bodyStart + 10] ^= 0x01;
        };
    }

    [Fact]
    public async Task AnAnswerWhoseSignatureWasChangedOnTheWayIsRefusedWithAClearError()
    {
        var (_, key) = await stack.CreateKeyAsync();
        var armed = false;
        // The edge sees the signature header in clear: it changes one character of it.
        await using var edge = new RecordingRelay(stack.Gateway, Flip("x-tee-signature: ", () => armed));
        await using var proxy = await SealingProxy.StartAsync(edge.Address);
        armed = true;

        var refused = await Assert.ThrowsAsync<ClientResultException>(() =>
            Sdk(proxy.Url, key).GetChatClient("deepseek-r1").CompleteChatAsync([new UserChatMessage("forged signature")], cancellationToken: TestContext.Current));

        Assert.True(refused.Status == 502, $"HTTP {refused.Status}: {refused.GetRawResponse()?.Content}\n{proxy.Output}");
        var error = JsonNode.Parse(refused.GetRawResponse()!.Content.ToString())!["error"]!;
        Assert.Equal("answer_signature_invalid", (string?)error["code"]);
        Assert.Contains("answer.signature", (string?)error["message"]);
        Assert.DoesNotContain("You said", refused.GetRawResponse()!.Content.ToString());
    }

    [Fact]
    public async Task AStreamWhoseServedSignatureWasChangedEndsWithAnErrorEventInsteadOfDone()
    {
        var (_, key) = await stack.CreateKeyAsync();
        var armed = false;
        // A stream's signature is fetched afterwards from GET /v1/signature/{id}, in clear: the edge changes it.
        await using var edge = new RecordingRelay(stack.Gateway, Flip("\"signature\":\"", () => armed));
        await using var proxy = await SealingProxy.StartAsync(edge.Address);
        armed = true;

        var (_, events) = await StreamRawAsync(proxy.Url, key, "forged stream signature");

        Assert.DoesNotContain("[DONE]", events);
        Assert.StartsWith("You said: forged stream signature.", Content(events.SkipLast(1)));
        var error = JsonNode.Parse(events[^1])!["error"]!;
        Assert.Equal("answer_signature_invalid", (string?)error["code"]);
        Assert.Contains("answer.signature", (string?)error["message"]);
    }

    [Fact]
    public async Task ASealedAnswerChangedOnTheWayDoesNotOpenAndIsRefused()
    {
        var (_, key) = await stack.CreateKeyAsync();
        var armed = false;
        // The response nonce keys the answer's AEAD: one changed hex digit and no chunk authenticates.
        await using var edge = new RecordingRelay(stack.Gateway, Flip(Ehbp.ResponseNonceHeader + ": ", () => armed));
        await using var proxy = await SealingProxy.StartAsync(edge.Address);
        armed = true;

        var refused = await Assert.ThrowsAsync<ClientResultException>(() =>
            Sdk(proxy.Url, key).GetChatClient("deepseek-r1").CompleteChatAsync([new UserChatMessage("tampered answer")], cancellationToken: TestContext.Current));
        var (_, events) = await StreamRawAsync(proxy.Url, key, "tampered stream");

        Assert.Equal(502, refused.Status);
        Assert.Equal("answer_undecryptable", (string?)JsonNode.Parse(refused.GetRawResponse()!.Content.ToString())!["error"]!["code"]);
        Assert.Equal("answer_undecryptable", (string?)JsonNode.Parse(Assert.Single(events))!["error"]!["code"]);
    }

    [Fact]
    public async Task AfterTheGatewayRestartsWithANewKeyTheProxyVerifiesAgainAndTheNextRequestSucceeds()
    {
        var (_, key) = await stack.CreateKeyAsync();
        await using var proxy = await SealingProxy.StartAsync(stack.Gateway);
        var chat = Sdk(proxy.Url, key).GetChatClient("deepseek-r1");
        ChatCompletion before = await chat.CompleteChatAsync([new UserChatMessage("before the restart")], cancellationToken: TestContext.Current);
        using var http = stack.Client();
        var oldKey = await http.GetByteArrayAsync(Ehbp.KeysPath, TestContext.Current);

        var (code, output) = await stack.RunScriptAsync("restart", "gateway");
        Assert.True(code == 0, output);
        await WaitForGatewayAsync(http);
        var newKey = await http.GetByteArrayAsync(Ehbp.KeysPath, TestContext.Current);
        ChatCompletion after = await chat.CompleteChatAsync([new UserChatMessage("after the restart")], cancellationToken: TestContext.Current);

        Assert.NotEqual(oldKey, newKey);
        Assert.StartsWith("You said: before the restart.", before.Content[0].Text);
        Assert.StartsWith("You said: after the restart.", after.Content[0].Text);
        Assert.Contains("answered 422", proxy.Output);
        Assert.Contains("re-verified", proxy.Output);
    }

    /// <summary>Changes the character after <paramref name="marker"/> (case-insensitive) in blocks the server sends, once armed: '0' ↔ '1', valid in hex and base64 alike.</summary>
    private static Action<byte[], int> Flip(string marker, Func<bool> armed) => (buffer, count) =>
    {
        if (!armed()) return;
        var text = Encoding.Latin1.GetString(buffer, 0, count);
        for (var at = text.IndexOf(marker, StringComparison.OrdinalIgnoreCase); at >= 0 && at + marker.Length < count;
             at = text.IndexOf(marker, at + 1, StringComparison.OrdinalIgnoreCase))
        {
            var i = at + marker.Length;
            buffer[i] = buffer[i] == (byte)'0' ? (byte)'1' : (byte)'0';
        }
    };

    /// <summary>The content the chunks of a stream carry, concatenated.</summary>
    private static string Content(IEnumerable<string> chunks) =>
        string.Concat(chunks.Select(e => (string?)JsonNode.Parse(e)!["choices"]?[0]?["delta"]?["content"] ?? ""));

    /// <summary>A streamed chat through the proxy read as a raw client: how many reads delivered it, and each event's data.</summary>
    private static async Task<(int Reads, List<string> Events)> StreamRawAsync(Uri proxy, string key, string prompt)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(proxy, "/v1/chat/completions"))
        {
            Content = new StringContent(new JsonObject
            {
                ["model"] = "deepseek-r1",
                ["stream"] = true,
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = prompt }),
            }.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, TestContext.Current);
        Assert.Equal(200, (int)response.StatusCode);
        await using var stream = await response.Content.ReadAsStreamAsync(TestContext.Current);
        var all = new MemoryStream();
        var buffer = new byte[65536];
        var reads = 0;
        int n;
        while ((n = await stream.ReadAsync(buffer, TestContext.Current)) > 0)
        {
            reads++;
            all.Write(buffer, 0, n);
        }
        var events = Encoding.UTF8.GetString(all.ToArray()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(e => e.StartsWith("data: ", StringComparison.Ordinal) ? e["data: ".Length..] : e).ToList();
        return (reads, events);
    }

    private static async Task WaitForGatewayAsync(HttpClient http)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                using var health = await http.GetAsync("/health", TestContext.Current);
                if (health.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            Assert.True(DateTime.UtcNow < deadline, "the gateway did not come back within 60 s");
            await Task.Delay(200, TestContext.Current);
        }
    }

    /// <summary>`scripts/tee-verify proxy` (built on first use) on a free port, insecure platform allowed (swtpm); stopped at dispose.</summary>
    private sealed class SealingProxy : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();
        private readonly TaskCompletionSource<Uri> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private SealingProxy(Process process) => _process = process;

        public Uri Url { get; private set; } = null!;

        /// <summary>Everything it printed so far (stdout and stderr).</summary>
        public string Output
        {
            get
            {
                lock (_output) return _output.ToString();
            }
        }

        public static async Task<SealingProxy> StartAsync(Uri service, params string[] options)
        {
            var psi = new ProcessStartInfo("bash") { WorkingDirectory = StackFixture.RepoRoot, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in (string[])[Path.Combine(StackFixture.RepoRoot, "scripts", "tee-verify"), "proxy", service.ToString(), "--listen", "127.0.0.1:0", "--allow-insecure-platform", .. options])
                psi.ArgumentList.Add(a);
            var proxy = new SealingProxy(new Process { StartInfo = psi });
            proxy._process.OutputDataReceived += (_, e) => proxy.Line(e.Data);
            proxy._process.ErrorDataReceived += (_, e) => proxy.Line(e.Data);
            proxy._process.Start();
            proxy._process.BeginOutputReadLine();
            proxy._process.BeginErrorReadLine();
            var exited = proxy._process.WaitForExitAsync(TestContext.Current);
            // The first run builds the CLI.
            var first = await Task.WhenAny(proxy._ready.Task, exited).WaitAsync(TimeSpan.FromMinutes(4), TestContext.Current);
            Assert.True(first == proxy._ready.Task, "tee-verify proxy exited before it was ready:\n" + proxy.Output);
            proxy.Url = await proxy._ready.Task;
            return proxy;
        }

        private void Line(string? line)
        {
            if (line is null) return;
            lock (_output) _output.AppendLine(line);
            // PROXY http://127.0.0.1:port -> http://service (verified: …)
            if (line.StartsWith("PROXY ", StringComparison.Ordinal)) _ready.TrySetResult(new Uri(line.Split(' ')[1]));
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            _process.Dispose();
        }
    }
}
