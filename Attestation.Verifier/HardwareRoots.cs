using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Text.Json;

namespace TeeAspire.Attestation.Verifier;

/// <summary>
/// The one place a TD quote is verified to Intel's root: <see cref="Dcap.VerifyTdQuote"/> with the
/// caller's Intel root and collateral bundle, and the policy's accepted TCB statuses (UpToDate by
/// default). Gives the quote body's measurements when it parsed, and the TCB status for display.
/// </summary>
internal static class TdQuoteVerification
{
    public static List<CheckResult> Verify(byte[] bytes, VerificationPolicy policy, VerificationOptions options, out TdMeasurements? body, out TcbStatus? tcb)
    {
        body = null;
        tcb = null;
        TdxQuote quote;
        try
        {
            quote = TdxQuote.Parse(bytes);
            body = new TdMeasurements(quote.Body);
        }
        catch (Exception e) when (e is EvidenceFormatException or CryptographicException or ArgumentException)
        {
            return [CheckResult.Fail("td_quote.format", e.Message)];
        }
        if (options.IntelRoot is null)
            return [CheckResult.Pass("td_quote.format", $"a TDX quote, version {quote.Version}"), CheckResult.Fail("td_quote.pck_chain", "no Intel SGX root given to check the TD quote against")];

        DcapCollateral? collateral = null;
        var checks = new List<CheckResult>();
        if (options.CollateralJson is { } bundle)
        {
            try
            {
                collateral = DcapCollateral.FromBundleJson(bundle);
            }
            catch (EvidenceFormatException e)
            {
                checks.Add(CheckResult.Fail("td_quote.collateral", e.Message));
            }
        }
        var inputs = new DcapInputs(options.IntelRoot, collateral, options.Now ?? DateTimeOffset.UtcNow, new HashSet<string>(policy.TcbAccept, StringComparer.Ordinal));
        checks.AddRange(Dcap.VerifyTdQuote(bytes, inputs));
        // The status itself, for display beside the checks (DCAP's td_quote.tcb_status enforces it).
        var info = collateral?.TcbInfo ?? options.TdxTcbInfo;
        if (info is not null)
        {
            try
            {
                tcb = TdxTcb.Evaluate(quote, info);
            }
            catch (Exception e) when (e is EvidenceFormatException or JsonException or KeyNotFoundException or InvalidOperationException or FormatException or AsnContentException or CryptographicException or ArgumentException or IndexOutOfRangeException)
            {
                tcb = null;
            }
        }
        return checks;
    }
}

/// <summary>
/// The one place an SEV-SNP HCL report is verified to AMD's root (the SNP integration point): the
/// SNP report's signature by the VCEK of its chip, VCEK → ASK → ARK.
/// </summary>
internal static class SnpVerification
{
    public static bool Verify(HclReport hcl, JsonElement report, VerificationOptions options, List<CheckResult> checks)
    {
        // ATTESTATION_REPORT: CHIP_ID (64 bytes) at 0x1A0 names the chip whose VCEK must have signed it.
        var chip = Convert.ToHexStringLower(hcl.HardwareReport.AsSpan(0x1A0, 8));
        var chain = report.TryGetProperty("evidence", out var evidence) ? Json.Text(evidence, "snp_vcek_chain") : null;
        if (chain is null)
        {
            checks.Add(CheckResult.Fail("snp.vcek_chain", $"an SEV-SNP HCL report (chip {chip}…) without the VCEK certificate chain: its signature cannot be checked"));
            return false;
        }
        checks.Add(CheckResult.Fail("snp.report_signature",
            options.AmdArk is null ? "no AMD ARK given to check the SNP report against" : "this verifier does not check SEV-SNP report signatures yet: refused"));
        return false;
    }
}
