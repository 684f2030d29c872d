using System.Security.Cryptography.X509Certificates;
using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

/// <summary>Against a production TDX quote and Intel's root (../shared/testdata/intel-tdx).</summary>
public sealed class TdxQuoteTests
{
    private static X509Certificate2 IntelRoot() => X509Certificate2.CreateFromPem(TestData.Text("intel-tdx/trusted_root.pem"));

    private static byte[] Quote() => TestData.Bytes("intel-tdx/tdx_prod_quote_SPR_E4.dat");

    /// <summary>The sample is archived: check its chain at a time its certificates were valid.</summary>
    private static DateTimeOffset WhenValid(TdxQuote quote) => quote.PckChain.Max(c => c.NotBefore).AddDays(1);

    /// <summary>DCAP's quote checks (no collateral: the collateral-dependent checks fail, these do not depend on it).</summary>
    private static IReadOnlyList<CheckResult> Verify(byte[] quote, X509Certificate2 root, DateTimeOffset at) =>
        Dcap.VerifyTdQuote(quote, new DcapInputs(root, null, at));

    private static readonly string[] QuoteChecks = ["td_quote.format", "td_quote.pck_chain", "td_quote.qe_report_signature", "td_quote.qe_report_binds_key", "td_quote.quote_signature"];

    [Fact]
    public void TheProductionQuoteVerifiesToIntelsRoot()
    {
        var quote = TdxQuote.Parse(Quote());

        var results = Verify(Quote(), IntelRoot(), WhenValid(quote));

        Assert.Equal(4, quote.Version);
        foreach (var name in QuoteChecks) Assert.True(results.Single(r => r.Name == name).Passed, name);
        Assert.False(results.Single(r => r.Name == "td_quote.collateral").Passed);
        Assert.Equal(3, quote.PckChain.Count);
        Assert.Equal(64, quote.ReportData.Length);
        Assert.Equal(48, quote.Mrtd.Length);
    }

    [Fact]
    public void AnyFlippedBodyByteFailsTheSignature()
    {
        var bytes = Quote();
        var when = WhenValid(TdxQuote.Parse(bytes));
        for (var i = 0; i < 48 + 584; i++)
        {
            var tampered = (byte[])bytes.Clone();
            tampered[i] ^= 0x01;
            var results = Verify(tampered, IntelRoot(), when);
            if (!results.Single(r => r.Name == "td_quote.format").Passed) continue; // a header byte that makes it no TDX quote at all: rejected
            Assert.False(results.Single(r => r.Name == "td_quote.quote_signature").Passed, $"byte {i} flipped");
        }
    }

    [Fact]
    public void AQuoteCheckedAgainstAnotherRootFailsTheChain()
    {
        var quote = TdxQuote.Parse(Quote());
        using var key = System.Security.Cryptography.ECDsa.Create();
        var otherRoot = new CertificateRequest("CN=Not Intel", key, System.Security.Cryptography.HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddYears(-10), DateTimeOffset.UtcNow.AddYears(10));

        var results = Verify(Quote(), otherRoot, WhenValid(quote));

        Assert.False(results.Single(r => r.Name == "td_quote.pck_chain").Passed);
    }

    [Fact]
    public void ATamperedQeReportFails()
    {
        var bytes = Quote();
        var quote = TdxQuote.Parse(bytes);
        var at = bytes.AsSpan().IndexOf(quote.QeReport);
        bytes[at + 10] ^= 1;

        var results = Verify(bytes, IntelRoot(), WhenValid(quote));

        Assert.False(results.Single(r => r.Name == "td_quote.qe_report_signature").Passed);
    }

    [Fact]
    public void TheVersion5SampleParses()
    {
        var quote = TdxQuote.Parse(TestData.Bytes("intel-tdx/quote_v5_sample.dat"));

        Assert.Equal(5, quote.Version);
        Assert.Equal(648, quote.Body.Length);
        Assert.True(Verify(TestData.Bytes("intel-tdx/quote_v5_sample.dat"), IntelRoot(), WhenValid(quote)).Single(r => r.Name == "td_quote.quote_signature").Passed);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(40)]
    [InlineData(700)]
    [InlineData(2000)]
    public void TruncatedQuotesAreRejected(int length) =>
        Assert.Throws<EvidenceFormatException>(() => TdxQuote.Parse(Quote().AsSpan(0, length)));
}

/// <summary>TCB status of the production quote under Intel's sample PCS collateral.</summary>
public sealed class TdxTcbTests
{
    private static TdxQuote Quote() => TdxQuote.Parse(TestData.Bytes("intel-tdx/tdx_prod_quote_SPR_E4.dat"));

    [Fact]
    public void ThePckCertificateCarriesTheFmspcAndTcbComponents()
    {
        var pck = TdxTcb.ReadPckExtensions(Quote().PckChain[0]);

        Assert.Equal("50806f000000", Convert.ToHexStringLower(pck.Fmspc));
        Assert.Equal(11, pck.PceSvn);
        Assert.Equal([3, 3, 2, 2, 2, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0], pck.SgxComponents);
    }

    [Fact]
    public void TheSampleQuoteReachesNoLevelOfTheSampleCollateral()
    {
        var status = TdxTcb.Evaluate(Quote(), TestData.Text("intel-tdx/sample_tcbInfo_response"));

        // The PCK's CPUSVN components (3,3,…) are below both levels' (5,5,…): no level is reached.
        Assert.Equal("Unrecognized", status.Status);
        Assert.False(string.IsNullOrEmpty(status.Reason));
    }

    [Fact]
    public void CollateralForAnotherPlatformIsUnrecognized()
    {
        var other = TestData.Text("intel-tdx/sample_tcbInfo_response").Replace("\"fmspc\":\"50806f000000\"", "\"fmspc\":\"00906ed50000\"");

        Assert.Equal("Unrecognized", TdxTcb.Evaluate(Quote(), other).Status);
    }

    [Fact]
    public void ALevelThePlatformReachesGivesItsStatus()
    {
        // Lower the UpToDate level to what this platform has: it is then UpToDate.
        var json = System.Text.Json.Nodes.JsonNode.Parse(TestData.Text("intel-tdx/sample_tcbInfo_response"))!;
        var tcb = json["tcbInfo"]!["tcbLevels"]![0]!["tcb"]!;
        foreach (var c in tcb["sgxtcbcomponents"]!.AsArray()) c!["svn"] = 0;
        foreach (var c in tcb["tdxtcbcomponents"]!.AsArray()) c!["svn"] = 0;

        Assert.Equal("UpToDate", TdxTcb.Evaluate(Quote(), json.ToJsonString()).Status);
    }
}
