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
