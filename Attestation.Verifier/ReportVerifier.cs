using System.Security.Cryptography;
using System.Text.Json;

namespace TeeAspire.Attestation.Verifier;

/// <summary>The outcome of verifying a report: every check with its reason, and the attested signing key.</summary>
public sealed record VerificationResult(IReadOnlyList<CheckResult> Checks, byte[]? SigningKeySpki)
{
    /// <summary>The TDX TCB status under the given PCS collateral, reported apart from the checks (null if not evaluated).</summary>
    public TcbStatus? Tcb { get; init; }

    public bool Passed => Checks.Count > 0 && Checks.All(c => c.Passed);
}

/// <summary>
/// Verifies a TeeAspire attestation report end to end, trusting nothing the server merely
/// claims (<c>tee_verified</c> is ignored): the nonce; the TPM quote (signature by the AK, PCR
/// digest, extraData = SHA-256(nonce ‖ signing-key SPKI)); on Azure, that the AK is the
/// hardware-reported HCLAkPub, that the runtime data is bound to the hardware report and that its
/// user-data binds the signing key; the TDX quote to Intel's root and its match with the HCL TD
/// report; the IMDS attested document; and the PCRs against the policy.
/// </summary>
public static class ReportVerifier
{
    public static VerificationResult Verify(string reportJson, byte[] nonce, VerificationPolicy policy)
    {
        using var doc = JsonDocument.Parse(reportJson);
        return Verify(doc.RootElement, nonce, policy);
    }

    public static VerificationResult Verify(JsonElement report, byte[] nonce, VerificationPolicy policy)
    {
        var checks = new List<CheckResult>();
        byte[]? spki = null;
        TcbStatus? tcb = null;
        try
        {
            spki = Check(report, nonce, policy, checks);
            if (policy.TdxTcbInfo is not null && report.GetProperty("evidence").TryGetProperty("td_quote", out var td))
                tcb = TdxTcb.Evaluate(TdxQuote.Parse(Convert.FromBase64String(td.GetString()!)), policy.TdxTcbInfo);
        }
        catch (Exception e) when (e is JsonException or FormatException or KeyNotFoundException or InvalidOperationException or EvidenceFormatException or CryptographicException)
        {
            checks.Add(CheckResult.Fail("report.format", "the report is malformed: " + e.Message));
        }
        return new VerificationResult(checks, spki) { Tcb = tcb };
    }

    private static byte[]? Check(JsonElement report, byte[] nonce, VerificationPolicy policy, List<CheckResult> checks)
    {
        var platform = report.GetProperty("platform").GetString() ?? "none";
        var insecure = platform == "none";
        checks.Add(!insecure
            ? CheckResult.Pass("platform", $"platform {platform}")
            : policy.AllowInsecurePlatform
                ? CheckResult.Pass("platform", "platform none (not a TEE) accepted by --allow-insecure-platform")
                : CheckResult.Fail("platform", "platform none: this service is not running in a TEE (pass --allow-insecure-platform to accept it for development)"));

        var echoed = report.TryGetProperty("nonce", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
        checks.Add(echoed == Convert.ToHexStringLower(nonce)
            ? CheckResult.Pass("nonce", "the report echoes our nonce")
            : CheckResult.Fail("nonce", echoed is null ? "the report has no nonce (a replayable boot report)" : "the report answers another nonce"));

        var key = report.GetProperty("signing_key");
        var spki = Convert.FromBase64String(key.GetProperty("spki").GetString()!);
        var fingerprint = Convert.ToHexStringLower(SHA256.HashData(spki));
        checks.Add(key.GetProperty("alg").GetString() == "ES256" && key.GetProperty("fingerprint").GetString() == fingerprint
            ? CheckResult.Pass("signing_key", $"ES256 key {fingerprint[..16]}…")
            : CheckResult.Fail("signing_key", "the signing key's fingerprint or algorithm is wrong"));
        if (policy.SigningKeyFingerprint is { } pinned)
            checks.Add(pinned == fingerprint ? CheckResult.Pass("signing_key.pinned", "the pinned key") : CheckResult.Fail("signing_key.pinned", "not the pinned signing key"));

        var evidence = report.GetProperty("evidence");
        if (!evidence.TryGetProperty("tpm_quote", out var quote))
        {
            checks.Add(CheckResult.Fail("tpm_quote", "the report has no TPM quote"));
            return spki;
        }
        var ak = Convert.FromBase64String(quote.GetProperty("ak_public").GetString()!);
        var pcrs = quote.GetProperty("pcrs").GetProperty("sha256").EnumerateObject()
            .ToDictionary(p => int.Parse(p.Name), p => Convert.FromHexString(p.Value.GetString()!));
        checks.AddRange(TpmQuoteVerifier.Verify(
            Convert.FromBase64String(quote.GetProperty("message").GetString()!),
            Convert.FromBase64String(quote.GetProperty("signature").GetString()!),
            ak, pcrs, TpmQuoteVerifier.ExpectedExtraData(nonce, spki)));

        if (evidence.TryGetProperty("hcl_report", out var hclB64))
        {
            var hcl = HclReport.Parse(Convert.FromBase64String(hclB64.GetString()!));
            checks.Add(hcl.RuntimeDataIsBound
                ? CheckResult.Pass("hcl.runtime_data", $"the {hcl.Type} hardware report binds the runtime data")
                : CheckResult.Fail("hcl.runtime_data", "REPORTDATA does not hash the runtime data"));
            checks.Add(hcl.AkPublicKeySpki().AsSpan().SequenceEqual(ak)
                ? CheckResult.Pass("hcl.ak", "the quote's AK is the hardware-reported HCLAkPub")
                : CheckResult.Fail("hcl.ak", "the quote was signed by another key than HCLAkPub"));
            var userData = hcl.UserData();
            checks.Add(userData.Length >= 32 && userData.AsSpan(0, 32).SequenceEqual(SHA256.HashData(spki))
                ? CheckResult.Pass("hcl.user_data", "user-data binds the signing key to the hardware report")
                : CheckResult.Fail("hcl.user_data", "user-data does not hold SHA-256 of the signing key"));
            if (evidence.TryGetProperty("td_quote", out var tdB64))
                checks.AddRange(CheckTdQuote(Convert.FromBase64String(tdB64.GetString()!), hcl, policy));
            else if (hcl.Type == HclReportType.Tdx)
                checks.Add(CheckResult.Fail("td_quote", "a TDX VM's report must carry a TD quote"));
        }
        else if (insecure)
        {
            checks.Add(policy.AllowInsecurePlatform
                ? CheckResult.Pass("tpm_quote.ak_trust", "the AK is not vouched for by hardware (insecure platform accepted)")
                : CheckResult.Fail("tpm_quote.ak_trust", "no hardware report vouches for the TPM's key"));
        }
        else
        {
            checks.Add(CheckResult.Fail("hcl_report", $"platform {platform} but no HCL report vouches for the TPM's key"));
        }

        if (evidence.TryGetProperty("imds_attested_document", out var imds))
            checks.AddRange(ImdsDocument.Verify(imds.GetProperty("signature").GetString()!, policy.ImdsRoots, out _));

        foreach (var (index, expected) in policy.Pcrs)
        {
            var actual = pcrs.TryGetValue(int.Parse(index), out var v) ? Convert.ToHexStringLower(v) : null;
            checks.Add(string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase)
                ? CheckResult.Pass($"policy.pcr{index}", "matches the expected measurement")
                : CheckResult.Fail($"policy.pcr{index}", actual is null ? "not quoted" : $"is {actual[..16]}…, expected {expected[..Math.Min(16, expected.Length)]}…"));
        }
        if (policy.App is { } app) checks.AddRange(AppMeasurement.Verify(report, AppMeasurement.QuotedPcrs(report), app));
        return spki;
    }

    private static IEnumerable<CheckResult> CheckTdQuote(byte[] bytes, HclReport hcl, VerificationPolicy policy)
    {
        var quote = TdxQuote.Parse(bytes);
        if (policy.IntelRoot is null)
            yield return CheckResult.Fail("td_quote.pck_chain", "no Intel SGX root given to check the TD quote against");
        else
            foreach (var r in quote.Verify(policy.IntelRoot)) yield return r;
        // The TD report inside the HCL report: REPORTDATA at 128, MRTD at 528.
        var sameData = quote.ReportData.AsSpan().SequenceEqual(hcl.HardwareReport.AsSpan(128, 64));
        var sameMrtd = quote.Mrtd.AsSpan().SequenceEqual(hcl.HardwareReport.AsSpan(528, 48));
        yield return sameData && sameMrtd
            ? CheckResult.Pass("td_quote.matches_hcl", "the TD quote is of the HCL report's TD report")
            : CheckResult.Fail("td_quote.matches_hcl", "the TD quote is of another TD report");
    }
}
