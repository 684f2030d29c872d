extern alias worker;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Mvc.Testing;
using StackExchange.Redis;
using TeeAspire.Attestation.Verifier;
using TeeAspire.Contracts;
using TeeAspire.TestSupport;
using WorkerProgram = worker::Program;

namespace TeeAspire.Tests;

/// <summary>
/// The worker's in-process answer signing against the real Attestation.Api (swtpm, redis-server):
/// the worker registers its key, the report lists it, and each answer's signature verifies over
/// the answer statement with that key only.
/// </summary>
public sealed class AnswerSigningTests
{
    private const string KeyId = "key_answers";
    private const string Request = """{"model":"deepseek-r1","messages":[{"role":"user","content":"hello"}]}""";

    private sealed class Stack : IAsyncDisposable
    {
        public required AttestationHost Attestation { get; init; }
        public required OllamaDoubleServer Ollama { get; init; }
        public required WebApplicationFactory<WorkerProgram> Worker { get; init; }

        public HttpClient WorkerClient()
        {
            var http = Worker.CreateClient();
            http.DefaultRequestHeaders.Add("x-tee-key-id", KeyId);
            http.DefaultRequestHeaders.Add(InternalAuth.Header, InternalAuth.Token);
            return http;
        }

        public async ValueTask DisposeAsync()
        {
            await Worker.DisposeAsync();
            await Ollama.DisposeAsync();
            await Attestation.DisposeAsync();
        }
    }

    private static async Task<Stack> StartAsync()
    {
        var attestation = await AttestationHost.StartAsync(kestrel: true);
        var ollama = await OllamaDoubleServer.StartAsync(o => o.TokensPerSecond = 0);
        var worker = new WebApplicationFactory<WorkerProgram>().WithWebHostBuilder(b =>
        {
            b.UseSetting("ConnectionStrings:redis", attestation.Redis.ConnectionString);
            b.UseSetting("ConnectionStrings:deepseek-r1-1-5b", ollama.ConnectionString("deepseek-r1:1.5b"));
            b.UseSetting("services:attestation:http:0", attestation.Url!.ToString());
            b.UseSetting("Attestation:InternalToken", AttestationHost.InternalToken);
        });
        _ = worker.Server;
        return new Stack { Attestation = attestation, Ollama = ollama, Worker = worker };
    }

    /// <summary>The attested key set once the worker's registration shows in a nonce-bound report.</summary>
    private static async Task<KeySet> RegisteredKeySetAsync(Stack stack)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var report = await stack.Attestation.ReportAsync(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)));
            using var doc = JsonDocument.Parse(report["key_set"]!.ToJsonString());
            var set = KeySet.FromJson(doc.RootElement);
            if (set.Keys.Any(k => k.Purpose == KeyPurposes.AnswerSigning)) return set;
            Assert.True(DateTime.UtcNow < deadline, "the worker never registered its key");
            await Task.Delay(100, TestContext.Current);
        }
    }

    private static bool Verifies(KeySetEntry key, string statement, string signature)
    {
        using var ecdsa = ECDsa.Create();
        ecdsa.ImportSubjectPublicKeyInfo(key.PublicKey, out _);
        return ecdsa.VerifyData(Encoding.UTF8.GetBytes(statement), Convert.FromBase64String(signature), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }

    private static string Sha(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    private static string Sha(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static async Task<HttpResponseMessage> ChatAsync(HttpClient http, string body, string? nonce)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (nonce is not null) request.Headers.Add(AnswerStatement.NonceHeader, nonce);
        return await http.SendAsync(request, TestContext.Current);
    }

    [Fact]
    public async Task ANonStreamAnswerVerifiesOverTheStatementWithTheRegisteredKeyOnly()
    {
        await using var stack = await StartAsync();
        var set = await RegisteredKeySetAsync(stack);
        using var http = stack.WorkerClient();
        var nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

        using var response = await ChatAsync(http, Request, nonce.ToUpperInvariant());
        var body = await response.Content.ReadAsByteArrayAsync(TestContext.Current);
        var json = JsonNode.Parse(body)!;
        var id = (string)json["id"]!;
        var created = (long)json["created"]!;
        var signature = response.Headers.GetValues("x-tee-signature").Single();
        var key = set.FindSigningKey(response.Headers.GetValues("x-tee-signing-key").Single());

        Assert.NotNull(key);
        // The answer names its weights (system_fingerprint) and the v2 statement covers them.
        var model = AnswerVerifier.ModelOf(body).Model;
        Assert.NotNull(model);
        Assert.Equal("deepseek-r1:1.5b", model.Name);
        Assert.True(Verifies(key, AnswerStatement.Build(id, created, Sha(Request), Sha(body), nonce, model), signature));
        Assert.False(Verifies(key, AnswerStatement.Build(id, created, Sha(Request), Sha(body), nonce), signature));
        Assert.False(Verifies(key, AnswerStatement.Build(id, created, Sha(Request), Sha(body), nonce, model with { Name = "deepseek-r1:7b" }), signature));
        Assert.False(Verifies(key, AnswerStatement.Build(id, created, Sha(Request), Sha(body), nonce, model with { Digest = new string('0', 64) }), signature));
        Assert.False(Verifies(key, AnswerStatement.Build(id, created + 1, Sha(Request), Sha(body), nonce, model), signature));
        Assert.False(Verifies(key, AnswerStatement.Build(id, created, Sha(Request.Replace("hello", "hullo")), Sha(body), nonce, model), signature));
        Assert.False(Verifies(key, AnswerStatement.Build(id, created, Sha(Request), Sha(body), Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)), model), signature));
        Assert.False(Verifies(key, AnswerStatement.Build(id, created, Sha(Request), Sha(body), null, model), signature));
        Assert.False(Verifies(key, AnswerStatement.Build("chatcmpl-other", created, Sha(Request), Sha(body), nonce, model), signature));
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Assert.False(Verifies(new KeySetEntry(KeyPurposes.AnswerSigning, KeyPurposes.Es256, other.ExportSubjectPublicKeyInfo()), AnswerStatement.Build(id, created, Sha(Request), Sha(body), nonce, model), signature));
    }

    [Fact]
    public async Task AStreamSignatureFetchedByIdVerifiesAndCarriesCreatedAndNonce()
    {
        await using var stack = await StartAsync();
        var set = await RegisteredKeySetAsync(stack);
        using var http = stack.WorkerClient();
        var nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var request = Request.Replace("\"messages\"", "\"stream\":true,\"messages\"");

        using var response = await ChatAsync(http, request, nonce);
        var body = await response.Content.ReadAsByteArrayAsync(TestContext.Current);
        var first = JsonNode.Parse(Encoding.UTF8.GetString(body).Split('\n')[0]["data: ".Length..])!;
        var id = (string)first["id"]!;
        var created = (long)first["created"]!;
        using var attestation = stack.Attestation.Client();
        JsonObject? fetched = null;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (fetched is null)
        {
            using var get = new HttpRequestMessage(HttpMethod.Get, "/v1/signature/" + id) { Headers = { { "x-tee-key-id", KeyId } } };
            using var answer = await attestation.SendAsync(get, TestContext.Current);
            if (answer.StatusCode == HttpStatusCode.OK) fetched = await answer.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current);
            else Assert.True(DateTime.UtcNow < deadline, "the stream's signature was never stored");
            if (fetched is null) await Task.Delay(50, TestContext.Current);
        }
        var key = set.FindSigningKey((string)fetched["signing_key_fingerprint"]!);

        Assert.NotNull(key);
        Assert.Equal(created, (long)fetched["created"]!);
        Assert.Equal(nonce, (string?)fetched["nonce"]);
        var model = AnswerVerifier.ModelOf(body).Model;
        Assert.NotNull(model);
        Assert.True(Verifies(key, AnswerStatement.Build(id, created, Sha(request), Sha(body), nonce, model), (string)fetched["signature"]!));
        Assert.StartsWith(AnswerStatement.HeaderV2 + "\n", (string)fetched["text"]!, StringComparison.Ordinal);
        Assert.False(Verifies(key, AnswerStatement.Build(id, created, Sha(request), Sha(body[..^1]), nonce, model), (string)fetched["signature"]!));
    }

    [Fact]
    public async Task UsageDebitAndSignatureAreStoredInOneEvalsha()
    {
        await using var stack = await StartAsync();
        using var http = stack.WorkerClient();
        await using var mux = await ConnectionMultiplexer.ConnectAsync(stack.Attestation.Redis.ConnectionString + ",allowAdmin=true");
        var server = mux.GetServers().Single();
        var db = mux.GetDatabase();
        // A first completion loads the script (NOSCRIPT, then the source once).
        using (var warm = await ChatAsync(http, Request, null)) await WaitStoredAsync(db, JsonNode.Parse(await warm.Content.ReadAsStringAsync(TestContext.Current))!);
        await server.ExecuteAsync("CONFIG", "RESETSTAT");

        using var response = await ChatAsync(http, Request, null);
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current))!;
        await WaitStoredAsync(db, json);
        var stats = (string)(await server.ExecuteAsync("INFO", "commandstats"))!;

        // Commands a script runs are counted too (hincrby, hset, set…); the round trips are the top-level ones.
        Assert.Matches(@"cmdstat_evalsha:calls=1,", stats);
        Assert.DoesNotMatch(@"cmdstat_eval:", stats);
        Assert.Matches(@"cmdstat_hincrby:calls=4,", stats);
        Assert.Matches(@"cmdstat_set:calls=1,", stats);
        Assert.Equal(2, (int)await db.HashGetAsync(RedisContract.UsageKey(KeyId), RedisContract.UsageFields.Requests));
        Assert.True(await db.KeyExistsAsync(RedisContract.TokenBudgetKey(KeyId)));
        Assert.True((await db.KeyTimeToLiveAsync(RedisContract.SignatureKey((string)json["id"]!))) > TimeSpan.FromDays(6));
    }

    private static async Task WaitStoredAsync(IDatabase db, JsonNode completion)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await db.KeyExistsAsync(RedisContract.SignatureKey((string)completion["id"]!)))
        {
            Assert.True(DateTime.UtcNow < deadline, "the completion was never recorded");
            await Task.Delay(20, TestContext.Current);
        }
    }

    [Fact]
    public async Task AfterARedisOutageTheRetryQueueStoresUsageAndSignature()
    {
        await using var stack = await StartAsync();
        using var http = stack.WorkerClient();
        stack.Attestation.Redis.Kill();

        using var response = await ChatAsync(http, Request, null);
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current))!;
        await stack.Attestation.Redis.RestartAsync(TestContext.Current);
        await using var mux = await ConnectionMultiplexer.ConnectAsync(stack.Attestation.Redis.ConnectionString);
        await WaitStoredAsync(mux.GetDatabase(), json);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, (int)await mux.GetDatabase().HashGetAsync(RedisContract.UsageKey(KeyId), RedisContract.UsageFields.Requests));
        var stored = JsonSerializer.Deserialize((string)(await mux.GetDatabase().StringGetAsync(RedisContract.SignatureKey((string)json["id"]!)))!, ContractJsonContext.Default.StoredSignature)!;
        Assert.Equal(response.Headers.GetValues("x-tee-signature").Single(), stored.Signature);
        Assert.Equal(KeyId, stored.KeyId);
    }

    [Theory]
    [InlineData("abcd")]
    [InlineData("zz112233445566778899aabbccddeeff")]
    [InlineData("00112233445566778899aabbccddeeff0")]
    public async Task AMalformedAnswerNonceIs400(string nonce)
    {
        await using var stack = await StartAsync();
        using var http = stack.WorkerClient();

        using var response = await ChatAsync(http, Request, nonce);
        var error = await response.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("x-answer-nonce", (string?)error!["error"]!["param"]);
    }
}
