using System.Security.Cryptography.X509Certificates;
using System.Text;
using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

/// <summary>DCAP against the production TDX quote and Intel's real 2023 PCS collateral.</summary>
public sealed class DcapTests
{
    private static readonly DateTimeOffset InCollateralWindow = new(2023, 6, 20, 0, 0, 0, TimeSpan.Zero);

    private static X509Certificate2 IntelRoot() => X509Certificate2.CreateFromPem(TestData.Text("intel-tdx/trusted_root.pem"));

    private static byte[] Quote() => TestData.Bytes("intel-tdx/tdx_prod_quote_SPR_E4.dat");

    internal static string VectorsDir()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "vectors");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException("tests/vectors not found above the test binaries");
    }

    private static DcapCollateral Collateral() => DcapCollateral.FromBundleFile(Path.Combine(VectorsDir(), "collateral", "intel-pcs-2023.json"));

    private static string Report(IEnumerable<CheckResult> results) => string.Join("\n", results.Select(r => $"{(r.Passed ? "ok  " : "FAIL")} {r.Name}: {r.Reason}"));

    [Fact]
    public void TheBundleHoldsThePcsResponsesVerbatim()
    {
        var c = Collateral();

        Assert.Equal(TestData.Text("intel-tdx/sample_tcbInfo_response"), c.TcbInfo);
        Assert.Equal(TestData.Text("intel-tdx/sample_qeIdentity_response"), c.QeIdentity);
        Assert.Equal(TestData.Bytes("intel-tdx/pckcrl"), c.PckCrl);
        Assert.Equal(TestData.Bytes("intel-tdx/rootcrl.der"), c.RootCrl);
        Assert.Equal(c, DcapCollateral.FromBundleJson(c.ToBundleJson()) with { PckCrl = c.PckCrl, RootCrl = c.RootCrl });
    }

    [Fact]
    public void TheProductionQuotePassesEveryCryptographicCheckWithRealCollateral()
    {
        var results = Dcap.VerifyTdQuote(Quote(), new DcapInputs(IntelRoot(), Collateral(), InCollateralWindow));

        string[] mustPass = ["td_quote.format", "td_quote.collateral", "td_quote.pck_chain", "td_quote.pck_crl", "td_quote.root_crl",
            "td_quote.qe_report_signature", "td_quote.qe_report_binds_key", "td_quote.collateral_signature", "td_quote.qe_identity", "td_quote.quote_signature"];
        foreach (var name in mustPass)
            Assert.True(results.Single(r => r.Name == name).Passed, Report(results));
        // Its TEE_TCB_SVN (03 00 04 …) is below the TDX components (3, 0, 5) of every level in the
        // 2023 TCB info: DCAP refuses it by its TCB status, not by any signature.
        var tcb = results.Single(r => r.Name == "td_quote.tcb_status");
        Assert.False(tcb.Passed);
        Assert.Contains("Unrecognized", tcb.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void WithoutCollateralTheQuoteIsNotVerified()
    {
        var results = Dcap.VerifyTdQuote(Quote(), new DcapInputs(IntelRoot(), null, InCollateralWindow));

        Assert.False(results.Single(r => r.Name == "td_quote.collateral").Passed);
        Assert.True(results.Single(r => r.Name == "td_quote.quote_signature").Passed, Report(results));
    }

    [Fact]
    public void StaleCollateralFailsAfterItsNextUpdate()
    {
        var results = Dcap.VerifyTdQuote(Quote(), new DcapInputs(IntelRoot(), Collateral(), new DateTimeOffset(2023, 8, 1, 0, 0, 0, TimeSpan.Zero)));

        Assert.False(results.Single(r => r.Name == "td_quote.collateral_signature").Passed);
        Assert.False(results.Single(r => r.Name == "td_quote.pck_crl").Passed);
    }

    [Fact]
    public void ATamperedTcbInfoFailsTheCollateralSignature()
    {
        var c = Collateral();
        var tampered = c with { TcbInfo = c.TcbInfo.Replace("\"tcbStatus\":\"OutOfDate\"", "\"tcbStatus\":\"UpToDate\"", StringComparison.Ordinal) };
        Assert.NotEqual(c.TcbInfo, tampered.TcbInfo);

        var results = Dcap.VerifyTdQuote(Quote(), new DcapInputs(IntelRoot(), tampered, InCollateralWindow));

        Assert.False(results.Single(r => r.Name == "td_quote.collateral_signature").Passed, Report(results));
    }

    [Fact]
    public void AnotherRootFailsThePckChainAndTheCollateral()
    {
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=Intel SGX Root CA", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
        using var fake = request.CreateSelfSigned(new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2040, 1, 1, 0, 0, 0, TimeSpan.Zero));

        var results = Dcap.VerifyTdQuote(Quote(), new DcapInputs(fake, Collateral(), InCollateralWindow));

        Assert.False(results.Single(r => r.Name == "td_quote.pck_chain").Passed);
        Assert.False(results.Single(r => r.Name == "td_quote.root_crl").Passed);
        Assert.False(results.Single(r => r.Name == "td_quote.collateral_signature").Passed);
    }

    [Fact]
    public void RandomMutationsOfQuoteAndCollateralGiveFailedChecksNotExceptions()
    {
        var random = new Random(13);
        var quote = Quote();
        var collateral = Collateral();
        var root = IntelRoot();
        for (var n = 0; n < 1000; n++)
        {
            var q = (byte[])quote.Clone();
            for (var k = random.Next(1, 4); k > 0; k--) q[random.Next(q.Length)] = (byte)random.Next(256);
            if (random.Next(10) == 0) q = q[..random.Next(q.Length)];
            var results = Dcap.VerifyTdQuote(q, new DcapInputs(root, collateral, InCollateralWindow));
            Assert.NotEmpty(results);
        }
        for (var n = 0; n < 1000; n++)
        {
            var mutated = collateral with
            {
                TcbInfo = Mutate(collateral.TcbInfo, random),
                QeIdentity = Mutate(collateral.QeIdentity, random),
                PckCrl = MutateBytes(collateral.PckCrl, random),
                RootCrl = MutateBytes(collateral.RootCrl, random),
            };
            var results = Dcap.VerifyTdQuote(quote, new DcapInputs(root, mutated, InCollateralWindow));
            Assert.NotEmpty(results);
        }
    }

    private const string Alphabet = "{}[]\":,0123456789abcdefxyz \\";

    private static string Mutate(string s, Random random)
    {
        var b = new StringBuilder(s);
        for (var k = random.Next(0, 3); k > 0 && b.Length > 0; k--) b[random.Next(b.Length)] = Alphabet[random.Next(Alphabet.Length)];
        return b.ToString();
    }

    private static byte[] MutateBytes(byte[] bytes, Random random)
    {
        var b = (byte[])bytes.Clone();
        for (var k = random.Next(0, 3); k > 0; k--) b[random.Next(b.Length)] = (byte)random.Next(256);
        return b;
    }
}
