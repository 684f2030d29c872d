using System.Security.Cryptography.X509Certificates;
using System.Buffers.Binary;
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
/// VCEK chain the report carries (<c>evidence.snp_vcek_chain</c>: PEM VCEK, ASK) to the given ARK,
/// the VCEK's hwID = the report's CHIP_ID, and the report's ECDSA P-384 signature by that VCEK
/// (SEV-SNP ABI: signed bytes 0x000–0x29F, r and s as 72-byte little-endian fields at 0x2A0).
/// </summary>
internal static class SnpVerification
{
    private const int Signed = 0x2A0;
    private const string HwIdOid = "1.3.6.1.4.1.3704.1.4";

    public static bool Verify(HclReport hcl, JsonElement report, VerificationOptions options, List<CheckResult> checks)
    {
        var snp = hcl.HardwareReport;
        var chip = snp.AsSpan(0x1A0, 64).ToArray();
        var chainPem = report.TryGetProperty("evidence", out var evidence) ? Json.Text(evidence, "snp_vcek_chain") : null;
        if (chainPem is null)
        {
            checks.Add(CheckResult.Fail("snp.vcek_chain", $"an SEV-SNP HCL report (chip {Convert.ToHexStringLower(chip)[..16]}…) without the VCEK certificate chain: its signature cannot be checked"));
            return false;
        }
        X509Certificate2? vcek = null;
        var chain = ParsePem(chainPem);
        if (chain is not { Count: > 0 })
            checks.Add(CheckResult.Fail("snp.vcek_chain", "the VCEK chain does not parse"));
        else if (options.AmdArk is null)
            checks.Add(CheckResult.Fail("snp.vcek_chain", "no AMD ARK given to check the VCEK chain against"));
        else if (ChainsTo(chain[0], chain.Skip(1), options.AmdArk, options.Now ?? DateTimeOffset.UtcNow, out var why))
        {
            vcek = chain[0];
            checks.Add(CheckResult.Pass("snp.vcek_chain", $"the VCEK chains to the given ARK ({options.AmdArk.GetNameInfo(X509NameType.SimpleName, false)}) at the verification time"));
        }
        else
        {
            checks.Add(CheckResult.Fail("snp.vcek_chain", "the VCEK does not chain to the given ARK: " + why));
        }

        var signed = false;
        var reason = "no verified VCEK to check the SNP report with";
        if (vcek is not null)
        {
            var algo = BinaryPrimitives.ReadUInt32LittleEndian(snp.AsSpan(52));
            var hwId = HwId(vcek);
            if (algo != 1) reason = $"signature algorithm {algo} is not ECDSA P-384 with SHA-384";
            else if (hwId is null || !hwId.AsSpan().SequenceEqual(chip))
                reason = $"the VCEK is another chip's (hwID {(hwId is null ? "?" : Convert.ToHexStringLower(hwId)[..16])}…, the report's CHIP_ID {Convert.ToHexStringLower(chip)[..16]}…)";
            else
            {
                var r = Component(snp.AsSpan(Signed, 72));
                var sig = Component(snp.AsSpan(Signed + 72, 72));
                try
                {
                    using var key = vcek.GetECDsaPublicKey();
                    signed = r is not null && sig is not null && key is not null && key.KeySize == 384
                        && key.VerifyData(snp.AsSpan(0, Signed), [.. r, .. sig], HashAlgorithmName.SHA384, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
                }
                catch (CryptographicException)
                {
                    signed = false;
                }
                reason = "the SNP report signature does not verify with the VCEK";
            }
        }
        checks.Add(signed ? CheckResult.Pass("snp.report_signature", "the SNP report is signed by this chip's VCEK") : CheckResult.Fail("snp.report_signature", reason));
        return checks.Where(c => c.Name.StartsWith("snp.", StringComparison.Ordinal)).All(c => c.Passed);
    }

    private static List<X509Certificate2>? ParsePem(string pem)
    {
        try
        {
            var certs = new X509Certificate2Collection();
            certs.ImportFromPem(pem);
            return certs.Count is > 0 and <= 8 ? [.. certs] : null;
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>The VCEK's hwID extension (64 bytes, raw or DER OCTET STRING), or null.</summary>
    private static byte[]? HwId(X509Certificate2 vcek)
    {
        var raw = vcek.Extensions.FirstOrDefault(e => e.Oid?.Value == HwIdOid)?.RawData;
        return raw switch
        {
            { Length: 64 } => raw,
            { Length: 66 } when raw[0] == 0x04 && raw[1] == 0x40 => raw[2..],
            _ => null,
        };
    }

    /// <summary>A 72-byte little-endian signature component as 48 big-endian bytes, or null if it does not fit.</summary>
    private static byte[]? Component(ReadOnlySpan<byte> le)
    {
        if (le[48..].IndexOfAnyExcept((byte)0) >= 0) return null;
        var be = le[..48].ToArray();
        Array.Reverse(be);
        return be;
    }

    private static bool ChainsTo(X509Certificate2 leaf, IEnumerable<X509Certificate2> intermediates, X509Certificate2 root, DateTimeOffset at, out string why)
    {
        try
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(root);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.VerificationTime = at.UtcDateTime;
            foreach (var c in intermediates) chain.ChainPolicy.ExtraStore.Add(c);
            var ok = chain.Build(leaf) && chain.ChainElements[^1].Certificate.RawData.AsSpan().SequenceEqual(root.RawData);
            why = ok ? "" : string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).DefaultIfEmpty("it ends at another root"));
            return ok;
        }
        catch (CryptographicException e)
        {
            why = e.Message;
            return false;
        }
    }
}
