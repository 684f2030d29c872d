using System.Security.Cryptography;
using System.Text.Json.Nodes;
using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

/// <summary>The Azure TDX path under a test PKI: what VERIFIED needs, and each link that refuses when broken.</summary>
public sealed class ReportVerifierTests : IDisposable
{
    private readonly SoftwareEvidence _evidence = new();
    private readonly TestTdx _tdx = new();
    private readonly byte[] _nonce = RandomNumberGenerator.GetBytes(32);

    private VerificationOptions Options(string status = "UpToDate", bool insecure = false) => new()
    {
        IntelRoot = _tdx.Root,
        CollateralJson = _tdx.CollateralJson(status),
        Now = TestTdx.Now,
        AllowInsecurePlatform = insecure,
    };

    private VerificationResult Verify(JsonObject report, VerificationPolicy? policy = null, VerificationOptions? options = null) =>
        ReportVerifier.Verify(report.ToJsonString(), _nonce, policy, options ?? Options());

    private static void AssertRefusedBy(VerificationResult result, string check) =>
        Assert.True(!result.Passed && result.Failed.Contains(check), $"expected {check} to fail; failed: {string.Join(", ", result.Failed)}");

    [Fact]
    public void ACompleteAzureTdxReportVerifiesAndSaysWhatItProved()
    {
        var result = Verify(_tdx.Report(_evidence, _nonce));

        Assert.True(result.Passed, string.Join("\n", result.Checks.Where(c => !c.Passed)));
        Assert.Equal("azure-tdx", result.Platform);
        Assert.False(result.Insecure);
        Assert.Equal(_evidence.KeySet.Digest, result.KeySet!.Digest);
        Assert.Equal(24, result.QuotedPcrs.Count);
        Assert.False(result.Td!.Debug);
    }

    [Fact]
    public void TheJsonPlatformFieldIsNeverRead()
    {
        var report = _tdx.Report(_evidence, _nonce);
        report["platform"] = "none";
        report["tee_verified"] = false;

        Assert.Equal("azure-tdx", Verify(report).Platform);
    }

    [Fact]
    public void AnotherRootRefusesTheChain() =>
        AssertRefusedBy(Verify(_tdx.Report(_evidence, _nonce), options: new VerificationOptions { IntelRoot = X509FromOtherKey(), CollateralJson = _tdx.CollateralJson(), Now = TestTdx.Now }), "td_quote.pck_chain");

    [Fact]
    public void NoIntelRootRefusesTheChain() =>
        AssertRefusedBy(Verify(_tdx.Report(_evidence, _nonce), options: new VerificationOptions { Now = TestTdx.Now }), "td_quote.pck_chain");

    [Fact]
    public void AnOutOfDateTcbIsRefusedUnlessThePolicyAcceptsIt()
    {
        var report = _tdx.Report(_evidence, _nonce);
        var policy = VerificationPolicy.Load("{\"tcb\":{\"accept\":[\"UpToDate\",\"OutOfDate\"]}}");

        AssertRefusedBy(Verify(report, options: Options("OutOfDate")), "td_quote.tcb_status");
        Assert.True(Verify(report, policy, Options("OutOfDate")).Passed);
    }

    [Fact]
    public void ATdxHclReportWithoutItsTdQuoteIsRefused()
    {
        var report = _tdx.Report(_evidence, _nonce);
        report["evidence"]!.AsObject().Remove("td_quote");

        var result = Verify(report, options: Options(insecure: true));

        AssertRefusedBy(result, "td_quote");
        AssertRefusedBy(result, "platform");
    }

    [Theory]
    [InlineData(0, "TEE_TCB_SVN")]
    [InlineData(16, "MRSEAM")]
    [InlineData(64, "MRSIGNERSEAM")]
    [InlineData(112, "SEAMATTRIBUTES")]
    [InlineData(120, "TDATTRIBUTES")]
    [InlineData(128, "XFAM")]
    [InlineData(136, "MRTD")]
    [InlineData(184, "MRCONFIGID")]
    [InlineData(232, "MROWNER")]
    [InlineData(280, "MROWNERCONFIG")]
    [InlineData(328, "RTMR0")]
    [InlineData(472, "RTMR3")]
    [InlineData(560, "REPORTDATA[40]")]
    public void AQuoteOfAnotherTdReportIsRefused(int bodyOffset, string field)
    {
        // A genuine quote (it verifies) of a TD whose body differs in one field from the HCL's TD report.
        var report = _tdx.Report(_evidence, _nonce, editBody: body =>
        {
            body[bodyOffset] ^= 1;
            return body;
        });

        var result = Verify(report);

        Assert.True(result.Checks.Single(c => c.Name == "td_quote.quote_signature").Passed, field);
        AssertRefusedBy(result, "td_quote.matches_hcl");
    }

    [Fact]
    public void RuntimeDataNotHashedIntoReportDataIsRefused()
    {
        var report = _tdx.Report(_evidence, _nonce, editBody: b => b, editTdReport: r =>
        {
            r[128] ^= 1;
            return r;
        });

        AssertRefusedBy(Verify(report), "hcl_report.runtime_data");
    }

    [Fact]
    public void AnotherKeySetInUserDataIsRefused()
    {
        using var other = new SoftwareEvidence();
        var report = _tdx.Report(_evidence, _nonce);
        report["key_set"] = other.Report(_nonce)["key_set"]!.DeepClone();

        var result = Verify(report);

        AssertRefusedBy(result, "hcl_report.user_data");
        AssertRefusedBy(result, "tpm_quote.extra_data");
    }

    [Fact]
    public void ATpmQuoteByAnotherAkIsRefused()
    {
        using var other = new SoftwareEvidence();
        var report = _tdx.Report(_evidence, _nonce);
        var signedByOther = other.Report(_nonce, boundKeySet: _evidence.KeySet);
        report["evidence"]!["tpm_quote"] = signedByOther["evidence"]!["tpm_quote"]!.DeepClone();

        AssertRefusedBy(Verify(report), "hcl_report.ak");
    }

    [Fact]
    public void ADebugTdIsRefusedUnlessThePolicyAllowsIt()
    {
        var report = _tdx.Report(_evidence, _nonce, editBody: b => b);
        var runtime = TestTdx.RuntimeData(_evidence.Ak, _evidence.KeySet.UserData());
        var body = TestTdx.Body([.. SHA256.HashData(runtime), .. new byte[32]], tdAttributes: 0x10000001);
        report["evidence"]!["hcl_report"] = Convert.ToBase64String(TestTdx.Hcl(TestTdx.TdReport(body), runtime));
        report["evidence"]!["td_quote"] = Convert.ToBase64String(_tdx.Quote(body));

        AssertRefusedBy(Verify(report), "policy.debug");
        Assert.True(Verify(report, VerificationPolicy.Load("{\"td\":{\"allow_debug\":true}}")).Passed);
    }

    [Fact]
    public void ThePolicyPinsTheTdFromTheVerifiedQuote()
    {
        var report = _tdx.Report(_evidence, _nonce);
        var td = Verify(report).Td!;
        var pinned = new VerificationPolicy { Platform = "azure-tdx" };
        foreach (var field in VerificationPolicy.TdFields) pinned.Td[field] = [td.Field(field)];
        var other = VerificationPolicy.Load(pinned.ToJson());
        other.Td["rtmr2"] = [new string('0', 96)];

        Assert.True(Verify(report, VerificationPolicy.Load(pinned.ToJson())).Passed);
        Assert.Equal(["policy.rtmr2"], Verify(report, other).Failed);
    }

    [Fact]
    public void ASoftwareReportFailsAPolicyThatRequiresTdx()
    {
        var result = Verify(_evidence.Report(_nonce), VerificationPolicy.Load("{\"platform\":\"azure-tdx\"}"), Options(insecure: true));

        Assert.Equal(["policy.platform"], result.Failed);
        Assert.True(result.Insecure);
    }

    [Fact]
    public void QuotedPcrsComeFromTheSelectionOnly()
    {
        var result = Verify(_evidence.Report(_nonce, selected: [3, 7]), VerificationPolicy.Load($"{{\"pcrs\":{{\"7\":\"{Convert.ToHexStringLower(SoftwareEvidence.Pcr(7))}\",\"8\":\"{new string('0', 64)}\"}}}}"), Options(insecure: true));

        Assert.Equal([3, 7], result.QuotedPcrs.Keys);
        Assert.Equal(["policy.pcr8"], result.Failed);
        Assert.Contains("not in the quote's selection", result.Checks.Single(c => c.Name == "policy.pcr8").Reason);
    }

    [Fact]
    public void EverySingleByteFlipOfTheTdQuoteOrTheHclReportIsRefusedOutsideTheListedRanges()
    {
        var report = _tdx.Report(_evidence, _nonce);
        var hcl = Convert.FromBase64String((string)report["evidence"]!["hcl_report"]!);
        // README "Checks": bytes of the HCL report no signature covers, each with its reason there.
        (int From, int To)[] unauthenticated = [(0, 32), (32, 64), (224, 288), (527, 544), (1056, 1216), (1216, 1224)];
        var accepted = new List<int>();
        for (var i = 0; i < hcl.Length; i++)
        {
            var flipped = (byte[])hcl.Clone();
            flipped[i] ^= 0xff;
            report["evidence"]!["hcl_report"] = Convert.ToBase64String(flipped);
            if (Verify(report).Passed && !unauthenticated.Any(r => i >= r.From && i < r.To)) accepted.Add(i);
        }
        report["evidence"]!["hcl_report"] = Convert.ToBase64String(hcl);
        var quote = Convert.FromBase64String((string)report["evidence"]!["td_quote"]!);
        // The quote's copy of the root CA (the last PEM block and its newline) is not used: the verifier's own pinned root is.
        var root = System.Text.Encoding.ASCII.GetBytes(_tdx.Root.ExportCertificatePem());
        var rootAt = quote.AsSpan().IndexOf(root);
        Assert.True(rootAt > 0);
        var acceptedQuote = new List<int>();
        for (var i = 0; i < quote.Length; i++)
        {
            if (i >= rootAt && i < quote.Length) continue;
            var flipped = (byte[])quote.Clone();
            flipped[i] ^= 0xff;
            report["evidence"]!["td_quote"] = Convert.ToBase64String(flipped);
            if (Verify(report).Passed) acceptedQuote.Add(i);
        }

        Assert.Empty(accepted);
        Assert.True(acceptedQuote.Count == 0, "accepted quote flips at " + string.Join(",", acceptedQuote.Take(50)));
    }

    private static System.Security.Cryptography.X509Certificates.X509Certificate2 X509FromOtherKey()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=Test SGX Root CA, O=Not Intel", key, HashAlgorithmName.SHA256)
            .CreateSelfSigned(TestTdx.Now.AddYears(-5), TestTdx.Now.AddYears(5));
    }

    public void Dispose()
    {
        _evidence.Dispose();
        _tdx.Dispose();
    }
}
