using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

public sealed class ReportTests
{
    private static string NewNonce(int bytes = 32) => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(bytes));

    private static IReadOnlyList<CheckResult> VerifyQuote(JsonObject report, byte[] nonce)
    {
        var quote = report["evidence"]!["tpm_quote"]!;
        var pcrs = quote["pcrs"]!["sha256"]!.AsObject().ToDictionary(p => int.Parse(p.Key), p => Convert.FromHexString((string)p.Value!));
        using var keySet = System.Text.Json.JsonDocument.Parse(report["key_set"]!.ToJsonString());
        return TpmQuoteVerifier.Verify(
            Convert.FromBase64String((string)quote["message"]!),
            Convert.FromBase64String((string)quote["signature"]!),
            Convert.FromBase64String((string)quote["ak_public"]!),
            pcrs,
            KeySet.FromJson(keySet.RootElement).ExtraData(nonce));
    }

    [Fact]
    public async Task ANonceBoundReportCarriesAQuoteThatVerifiesWithTheAk()
    {
        await using var host = await AttestationHost.StartAsync();
        var nonce = NewNonce();

        var report = await host.ReportAsync(nonce);

        Assert.Equal(nonce, (string?)report["nonce"]);
        Assert.False((bool)report["replayable"]!);
        Assert.All(VerifyQuote(report, Convert.FromHexString(nonce)), r => Assert.True(r.Passed, $"{r.Name}: {r.Reason}"));
    }

    [Fact]
    public async Task AQuoteDoesNotVerifyForAnotherNonceOrAnotherKeySet()
    {
        await using var host = await AttestationHost.StartAsync();
        await host.RegisterSigningKeyAsync();
        var nonce = NewNonce();
        var report = await host.ReportAsync(nonce);

        var otherNonce = VerifyQuote(report, Convert.FromHexString(NewNonce()));
        report["key_set"]!["keys"]![0]!["public_key"] = Convert.ToBase64String(ECDsa.Create(ECCurve.NamedCurves.nistP256).ExportSubjectPublicKeyInfo());
        var otherKey = VerifyQuote(report, Convert.FromHexString(nonce));

        Assert.False(otherNonce.Single(r => r.Name == "tpm_quote.extra_data").Passed);
        Assert.False(otherKey.Single(r => r.Name == "tpm_quote.extra_data").Passed);
    }

    [Fact]
    public async Task QuotedPcrsMatchTpm2Pcrread()
    {
        await using var host = await AttestationHost.StartAsync();
        var report = await host.ReportAsync(NewNonce());

        var pcrread = await host.Tpm.RunToolAsync("tpm2_pcrread", "sha256:0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23");

        var expected = global::Attestation.Api.Evidence.TpmEvidence.ParsePcrs(pcrread);
        Assert.Equal(24, expected.Count);
        var reported = report["tpm_pcr_sha256"]!.AsObject();
        foreach (var (index, value) in expected) Assert.Equal(Convert.ToHexStringLower(value), (string?)reported[index.ToString()]);
    }

    [Fact]
    public async Task TheReportKeepsTheOldFieldsAndSaysOffTeeHardwareIsNone()
    {
        await using var host = await AttestationHost.StartAsync();

        var report = await host.ReportAsync(NewNonce(16));

        Assert.Equal("none", (string?)report["platform"]);
        Assert.False((bool)report["tee_verified"]!);
        Assert.True(report.ContainsKey("vm_size"));
        Assert.True(report.ContainsKey("azure_attestation"));
        Assert.IsType<JsonObject>(report["tpm_pcr_sha256"]);
        Assert.IsType<JsonArray>(report["tee_dmesg"]);
        Assert.False(report.ContainsKey("signing_key"));
        Assert.Equal(1, (int)report["key_set"]!["version"]!);
        Assert.True(DateTimeOffset.TryParse((string?)report["issued_at"], out _));
        Assert.NotNull(report["software"]!["version"]);
        var absent = report["evidence_absent"]!.AsObject();
        Assert.Contains("hcl_report", absent.Select(a => a.Key));
        Assert.Contains("imds_attested_document", absent.Select(a => a.Key));
        Assert.DoesNotContain("hcl_report", report["evidence"]!.AsObject().Select(e => e.Key));
    }

    [Fact]
    public async Task WithoutANonceTheBootReportIsMarkedReplayable()
    {
        await using var host = await AttestationHost.StartAsync();

        var report = await host.ReportAsync();
        using var http = host.Client();
        using var v1 = await http.GetAsync("/v1/attestation/report", TestContext.Current);

        Assert.True((bool)report["replayable"]!);
        Assert.Null(report["nonce"]);
        Assert.All(VerifyQuote(report, []), r => Assert.True(r.Passed, $"{r.Name}: {r.Reason}"));
        Assert.Equal(HttpStatusCode.OK, v1.StatusCode);
    }

    [Theory]
    [InlineData("nonce=abc")]
    [InlineData("nonce=00112233445566778899aabbccddee")]
    [InlineData("nonce=zz112233445566778899aabbccddeeff")]
    [InlineData("nonce=00112233445566778899aabbccddeeff0")]
    [InlineData("nonce=")]
    [InlineData("nonce=00112233445566778899aabbccddeeff&nonce=00112233445566778899aabbccddeeff")]
    [InlineData("nonce=00112233445566778899aabbccddeeff&x=1")]
    [InlineData("n=00112233445566778899aabbccddeeff")]
    public async Task AMalformedNonceIs400(string query)
    {
        await using var host = await AttestationHost.StartAsync();
        using var http = host.Client();

        using var response = await http.GetAsync("/attestation?" + query, TestContext.Current);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("nonce", (string?)(await response.Content.ReadFromJsonAsync<JsonNode>(TestContext.Current))!["error"]!["param"]);
    }

    [Fact]
    public async Task ATooLongNonceIs400()
    {
        await using var host = await AttestationHost.StartAsync();
        using var http = host.Client();

        using var response = await http.GetAsync("/attestation?nonce=" + NewNonce(65), TestContext.Current);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task ConcurrentReportsAllVerify()
    {
        await using var host = await AttestationHost.StartAsync();
        var nonces = Enumerable.Range(0, 8).Select(_ => NewNonce()).ToList();

        var reports = await Task.WhenAll(nonces.Select(n => host.ReportAsync(n)));

        for (var i = 0; i < nonces.Count; i++)
            Assert.All(VerifyQuote(reports[i], Convert.FromHexString(nonces[i])), r => Assert.True(r.Passed, $"{r.Name}: {r.Reason}"));
    }
}
