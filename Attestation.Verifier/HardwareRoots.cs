using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Text.Json;

namespace TeeAspire.Attestation.Verifier;

/// <summary>
/// The one place a TD quote is verified to Intel's root (the DCAP integration point): parse,
/// PCK chain, QE report, attestation key, quote signature, TCB status against the policy's accept
/// list. Gives the quote body's measurements when it parsed.
/// </summary>
internal static class TdQuoteVerification
{
    public static List<CheckResult> Verify(byte[] bytes, VerificationPolicy policy, VerificationOptions options, out TdMeasurements? body, out TcbStatus? tcb)
    {
        body = null;
        tcb = null;
        var checks = new List<CheckResult>();
        TdxQuote quote;
        try
        {
            quote = TdxQuote.Parse(bytes);
            body = new TdMeasurements(quote.Body);
            checks.Add(CheckResult.Pass("td_quote.format", $"a TDX quote, version {quote.Version}"));
        }
        catch (Exception e) when (e is EvidenceFormatException or CryptographicException or ArgumentException)
        {
            checks.Add(CheckResult.Fail("td_quote.format", e.Message));
            return checks;
        }
        if (options.IntelRoot is null)
            checks.Add(CheckResult.Fail("td_quote.pck_chain", "no Intel SGX root given to check the TD quote against"));
        else
        {
            try
            {
                checks.AddRange(quote.Verify(options.IntelRoot, (options.Now ?? DateTimeOffset.UtcNow).UtcDateTime));
            }
            catch (Exception e) when (e is CryptographicException or ArgumentException)
            {
                checks.Add(CheckResult.Fail("td_quote.signature", "the quote's keys or signatures are malformed: " + e.Message));
            }
        }
        checks.Add(TcbCheck(quote, policy, options, out tcb));
        return checks;
    }

    private static CheckResult TcbCheck(TdxQuote quote, VerificationPolicy policy, VerificationOptions options, out TcbStatus? tcb)
    {
        tcb = null;
        var info = options.TdxTcbInfo ?? TcbInfoFromBundle(options.CollateralJson);
        if (info is null) return CheckResult.Fail("td_quote.tcb_status", "no TCB collateral given: the platform's TCB status is unknown");
        try
        {
            tcb = TdxTcb.Evaluate(quote, info);
        }
        catch (Exception e) when (e is EvidenceFormatException or JsonException or KeyNotFoundException or InvalidOperationException or FormatException or AsnContentException or CryptographicException or ArgumentException or IndexOutOfRangeException)
        {
            return CheckResult.Fail("td_quote.tcb_status", "the TCB collateral or the PCK's SGX extensions are malformed: " + e.Message);
        }
        return policy.TcbAccept.Contains(tcb.Status)
            ? CheckResult.Pass("td_quote.tcb_status", $"{tcb.Status}: {tcb.Reason}")
            : CheckResult.Fail("td_quote.tcb_status", $"TCB status {tcb.Status} is not accepted by the policy ({string.Join(", ", policy.TcbAccept)}): {tcb.Reason}");
    }

    private static string? TcbInfoFromBundle(string? bundle)
    {
        if (bundle is null) return null;
        try
        {
            using var doc = JsonDocument.Parse(bundle);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("tcb_info", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
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
