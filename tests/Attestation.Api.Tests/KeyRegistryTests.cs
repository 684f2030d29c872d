using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

/// <summary>The key registry: registered keys are listed in the report's key set, which the quote binds.</summary>
public sealed class KeyRegistryTests
{
    private static string NewNonce() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    private static KeySet KeySetOf(JsonObject report)
    {
        using var doc = JsonDocument.Parse(report["key_set"]!.ToJsonString());
        return KeySet.FromJson(doc.RootElement);
    }

    private static IReadOnlyList<CheckResult> QuoteChecks(JsonObject report, byte[] nonce, byte[] extraData)
    {
        var quote = report["evidence"]!["tpm_quote"]!;
        var pcrs = quote["pcrs"]!["sha256"]!.AsObject().ToDictionary(p => int.Parse(p.Key), p => Convert.FromHexString((string)p.Value!));
        return TpmQuoteVerifier.Verify(Convert.FromBase64String((string)quote["message"]!), Convert.FromBase64String((string)quote["signature"]!),
            Convert.FromBase64String((string)quote["ak_public"]!), pcrs, extraData);
    }

    [Fact]
    public async Task ARegisteredKeyIsInTheKeySetAndTheQuoteBindsItsDigestWithTheNonce()
    {
        await using var host = await AttestationHost.StartAsync();
        var spki = await host.RegisterSigningKeyAsync();
        var nonce = NewNonce();

        var report = await host.ReportAsync(nonce);

        var set = KeySetOf(report);
        var key = Assert.Single(set.Keys);
        Assert.Equal(spki, key.PublicKey);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(spki)), (string?)report["key_set"]!["keys"]![0]!["fingerprint"]);
        Assert.Equal(Convert.ToHexStringLower(set.Digest), (string?)report["key_set"]!["digest"]);
        var extra = set.ExtraData(Convert.FromHexString(nonce));
        Assert.Equal(Convert.ToHexStringLower(extra), (string?)report["evidence"]!["tpm_quote"]!["extra_data"]);
        Assert.All(QuoteChecks(report, Convert.FromHexString(nonce), extra), c => Assert.True(c.Passed, $"{c.Name}: {c.Reason}"));
    }

    [Fact]
    public async Task BeforeAnyRegistrationTheKeySetIsEmptyAndStillBound()
    {
        await using var host = await AttestationHost.StartAsync();
        var nonce = NewNonce();

        var report = await host.ReportAsync(nonce);

        var set = KeySetOf(report);
        Assert.Empty(set.Keys);
        Assert.All(QuoteChecks(report, Convert.FromHexString(nonce), set.ExtraData(Convert.FromHexString(nonce))), c => Assert.True(c.Passed, $"{c.Name}: {c.Reason}"));
    }

    [Fact]
    public async Task TheBootReportIsRebuiltWhenTheSetChanges()
    {
        await using var host = await AttestationHost.StartAsync();
        var before = await host.ReportAsync();

        var spki = await host.RegisterSigningKeyAsync();
        var after = await host.ReportAsync();

        Assert.Empty(KeySetOf(before).Keys);
        var set = KeySetOf(after);
        Assert.Equal(spki, Assert.Single(set.Keys).PublicKey);
        Assert.All(QuoteChecks(after, [], set.ExtraData([])), c => Assert.True(c.Passed, $"{c.Name}: {c.Reason}"));
    }

    [Fact]
    public async Task ALeaseThatIsNotRenewedDropsOutAndTheDigestChanges()
    {
        await using var host = await AttestationHost.StartAsync(new Dictionary<string, string?>
        {
            ["Attestation:KeyLeaseTtl"] = "00:00:03",
            ["Attestation:KeySweepInterval"] = "00:00:00.200",
        });
        var kept = await host.RegisterSigningKeyAsync();
        var dropped = ECDsa.Create(ECCurve.NamedCurves.nistP256).ExportSubjectPublicKeyInfo();
        using var registered = await host.RegisterAsync("answer-signing", "ES256", dropped);
        // The digest bound when the dropped key was registered (bound before the answer).
        var boundWithDropped = (string)(await registered.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current))!["key_set_digest"]!;

        // Renew one lease until the other has expired.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        JsonObject report;
        while (true)
        {
            (await host.RegisterAsync("answer-signing", "ES256", kept)).EnsureSuccessStatusCode();
            report = await host.ReportAsync(NewNonce());
            if (KeySetOf(report).Keys.Count == 1) break;
            Assert.True(DateTime.UtcNow < deadline, "the unrenewed lease never expired");
            await Task.Delay(200, TestContext.Current);
        }

        Assert.Equal(HttpStatusCode.OK, registered.StatusCode);
        var after = KeySetOf(report);
        Assert.Equal(kept, Assert.Single(after.Keys).PublicKey);
        Assert.DoesNotContain(after.Keys, k => k.PublicKey.AsSpan().SequenceEqual(dropped));
        Assert.NotEqual(boundWithDropped, Convert.ToHexStringLower(after.Digest));
        var nonce = Convert.FromHexString((string)report["nonce"]!);
        Assert.All(QuoteChecks(report, nonce, after.ExtraData(nonce)), c => Assert.True(c.Passed, $"{c.Name}: {c.Reason}"));
    }

    [Fact]
    public async Task ASealingKeyOf32BytesIsListedWithItsAlgorithm()
    {
        await using var host = await AttestationHost.StartAsync();
        var raw = RandomNumberGenerator.GetBytes(32);

        using var response = await host.RegisterAsync(KeyPurposes.BodySealing, KeyPurposes.HpkeX25519, raw);
        var set = KeySetOf(await host.ReportAsync(NewNonce()));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotNull(set.FindSealingKey(raw));
    }

    [Fact]
    public async Task RegistrationNeedsTheInternalToken()
    {
        await using var host = await AttestationHost.StartAsync();
        var spki = ECDsa.Create(ECCurve.NamedCurves.nistP256).ExportSubjectPublicKeyInfo();

        using var wrong = await host.RegisterAsync("answer-signing", "ES256", spki, token: "wrong-token");
        using var none = await host.RegisterAsync("answer-signing", "ES256", spki, token: null);
        using var http = host.Outsider();
        using var list = await http.GetAsync("/internal/keys", TestContext.Current);

        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, list.StatusCode);
        Assert.Empty(KeySetOf(await host.ReportAsync(NewNonce())).Keys);
    }

    [Fact]
    public async Task RegistrationIsOffWithoutAnInternalToken()
    {
        await using var host = await AttestationHost.StartAsync(new Dictionary<string, string?> { ["Attestation:InternalToken"] = "", ["TEE_INSECURE_NO_INTERNAL_TOKEN"] = "true" });

        using var response = await host.RegisterAsync("answer-signing", "ES256", ECDsa.Create(ECCurve.NamedCurves.nistP256).ExportSubjectPublicKeyInfo(), token: "");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
    }

    public static TheoryData<string, string, byte[]> BadKeys()
    {
        var p256 = ECDsa.Create(ECCurve.NamedCurves.nistP256).ExportSubjectPublicKeyInfo();
        return new()
        {
            { "answer-signing", "ES384", p256 },
            { "signing", "ES256", p256 },
            { "answer-signing", "ES256", ECDsa.Create(ECCurve.NamedCurves.nistP384).ExportSubjectPublicKeyInfo() },
            { "answer-signing", "ES256", RSA.Create(2048).ExportSubjectPublicKeyInfo() },
            { "answer-signing", "ES256", [.. p256, 0] },
            { "answer-signing", "ES256", p256[..^1] },
            { "answer-signing", "ES256", RandomNumberGenerator.GetBytes(32) },
            { "body-sealing", "HPKE-X25519-SHA256-AES256GCM", RandomNumberGenerator.GetBytes(31) },
            { "body-sealing", "ES256", RandomNumberGenerator.GetBytes(32) },
        };
    }

    [Theory]
    [MemberData(nameof(BadKeys))]
    public async Task AMalformedRegistrationIs400AndChangesNothing(string purpose, string alg, byte[] key)
    {
        await using var host = await AttestationHost.StartAsync();

        using var response = await host.RegisterAsync(purpose, alg, key);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Empty(KeySetOf(await host.ReportAsync(NewNonce())).Keys);
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("not json")]
    [InlineData("{\"purpose\":\"answer-signing\",\"alg\":\"ES256\",\"public_key\":\"***\",\"service\":\"w\",\"instance\":\"1\"}")]
    [InlineData("{\"purpose\":\"body-sealing\",\"alg\":\"HPKE-X25519-SHA256-AES256GCM\",\"public_key\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"service\":\"\",\"instance\":\"1\"}")]
    public async Task AMalformedBodyIs400(string body)
    {
        await using var host = await AttestationHost.StartAsync();
        using var http = host.Client();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/internal/keys") { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Add("x-tee-internal-token", AttestationHost.InternalToken);

        using var response = await http.SendAsync(request, TestContext.Current);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task TheLeaseListShowsWhoRegisteredWhat()
    {
        await using var host = await AttestationHost.StartAsync();
        var spki = await host.RegisterSigningKeyAsync();
        using var http = host.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/internal/keys");
        request.Headers.Add("x-tee-internal-token", AttestationHost.InternalToken);

        var list = await (await http.SendAsync(request, TestContext.Current)).Content.ReadFromJsonAsync<JsonObject>(TestContext.Current);

        var lease = list!["leases"]!.AsArray().Single()!;
        Assert.Equal("test-1", (string?)lease["instance"]);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(spki)), (string?)lease["fingerprint"]);
    }
}
