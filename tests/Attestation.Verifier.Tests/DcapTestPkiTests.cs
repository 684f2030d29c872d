using System.Security.Cryptography;
using System.Text.Json.Nodes;
using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

/// <summary>DCAP collateral forgeries on a complete Azure TDX report under the test PKI: each refused by the check that names it.</summary>
public sealed class DcapTestPkiTests : IDisposable
{
    private readonly SoftwareEvidence _evidence = new();
    private readonly TestTdx _tdx = new();
    private readonly byte[] _nonce = RandomNumberGenerator.GetBytes(32);

    private VerificationResult Verify(DcapCollateral collateral, VerificationPolicy? policy = null) =>
        ReportVerifier.Verify(_tdx.Report(_evidence, _nonce).ToJsonString(), _nonce, policy,
            new VerificationOptions { IntelRoot = _tdx.Root, CollateralJson = collateral.ToBundleJson(), Now = TestTdx.Now });

    private static void AssertRefusedBy(VerificationResult result, string check)
    {
        Assert.True(!result.Passed && result.Failed.Contains(check), $"expected {check} to fail; failed: {string.Join(", ", result.Failed)}");
        Assert.DoesNotContain("verifier.internal_error", result.Failed);
    }

    [Fact]
    public void TheUntouchedCollateralVerifies()
    {
        var result = Verify(_tdx.Collateral());

        Assert.True(result.Passed, string.Join("\n", result.Checks.Where(c => !c.Passed)));
        Assert.Equal("UpToDate", result.Tcb!.Status);
    }

    [Fact]
    public void ARevokedPckIsRefused() => AssertRefusedBy(Verify(_tdx.Collateral(revokePck: true)), "td_quote.pck_crl");

    [Fact]
    public void ATamperedTcbInfoIsRefused() =>
        AssertRefusedBy(Verify(_tdx.Collateral(editTcbInfo: t => t.Replace("\"tcbStatus\":\"OutOfDate\"", "\"tcbStatus\":\"UpToDate\"").Replace("\"pcesvn\":0", "\"pcesvn\":0 "))), "td_quote.collateral_signature");

    [Fact]
    public void TheTdxModuleIsMatchedByItsHexIdAndSeamAttributes()
    {
        // TEE_TCB_SVN[1] = 0x0A: Intel's QVL looks up "TDX_0A" (bytesToHexString), case-insensitively.
        var tcbInfo = _tdx.Collateral().TcbInfo;
        var quote = TdxQuote.Parse(_tdx.Quote(TestTdx.Body(new byte[64])));
        var withSeamAttributes = TdxQuote.Parse(_tdx.Quote(TestTdx.Body(new byte[64]).Also(b => b[112] = 0x01)));

        Assert.Equal("UpToDate", TdxTcb.Evaluate(quote, tcbInfo).Status);
        Assert.Equal("UpToDate", TdxTcb.Evaluate(quote, tcbInfo.Replace("\"TDX_0A\"", "\"tdx_0a\"")).Status);
        var decimalId = TdxTcb.Evaluate(quote, tcbInfo.Replace("\"TDX_0A\"", "\"TDX_10\""));
        Assert.Equal("Unrecognized", decimalId.Status);
        Assert.Contains("TDX_0A", decimalId.Reason);
        var seam = TdxTcb.Evaluate(withSeamAttributes, tcbInfo);
        Assert.Equal("Unrecognized", seam.Status);
        Assert.Contains("SEAMATTRIBUTES", seam.Reason);
    }

    [Fact]
    public void AQeOfAnotherSignerIsRefused() =>
        AssertRefusedBy(Verify(_tdx.Collateral(qeMrSigner: Enumerable.Repeat((byte)0xAB, 32).ToArray())), "td_quote.qe_identity");

    [Fact]
    public void StaleCollateralIsRefused() =>
        AssertRefusedBy(Verify(_tdx.Collateral(nextUpdate: TestTdx.Now.AddDays(-1))), "td_quote.collateral_signature");

    [Fact]
    public void AnOutOfDateTcbIsRefusedWithItsAdvisoriesUnlessThePolicyNamesIt()
    {
        var collateral = _tdx.Collateral("OutOfDate", ["INTEL-SA-00837", "INTEL-SA-00960"]);

        var refused = Verify(collateral);
        var accepting = VerificationPolicy.Load("""{"tcb":{"accept":["UpToDate","OutOfDate"]}}""");
        var accepted = Verify(collateral, accepting);

        AssertRefusedBy(refused, "td_quote.tcb_status");
        Assert.Contains("INTEL-SA-00837", refused.Checks.Single(c => c.Name == "td_quote.tcb_status").Reason);
        Assert.True(accepted.Passed, string.Join("\n", accepted.Checks.Where(c => !c.Passed)));
        Assert.Contains("INTEL-SA-00960", accepted.Checks.Single(c => c.Name == "td_quote.tcb_status").Reason);
    }

    public void Dispose()
    {
        _evidence.Dispose();
        _tdx.Dispose();
    }
}

internal static class ByteArrayExtensions
{
    public static byte[] Also(this byte[] bytes, Action<byte[]> edit)
    {
        edit(bytes);
        return bytes;
    }
}
