using System.Security.Cryptography;
using System.Text.Json;

namespace TeeAspire.Attestation.Verifier;

/// <summary>
/// Verifies a TeeAspire attestation report against DESIGN.md "What verified means". Nothing the
/// server merely says counts: <c>platform</c>, <c>tee_verified</c>, <c>vm_size</c>,
/// <c>tpm_pcr_sha256</c>, <c>software</c> and the key set's <c>digest</c>/<c>fingerprint</c> are
/// never read. The platform comes from the evidence: an Azure TDX HCL report whose TD report is
/// the one in a TD quote that verifies by DCAP, whose runtime data holds the TPM quote's AK and
/// whose user-data binds the key set; or an SEV-SNP report under AMD's chain; or — only when the
/// caller sets <see cref="VerificationOptions.AllowInsecurePlatform"/> — no hardware root at all.
/// Never throws on hostile input: every defect is a failed check with its reason.
/// </summary>
public static class ReportVerifier
{
    /// <summary>Verifies a report's JSON text for the nonce the caller sent.</summary>
    public static VerificationResult Verify(string reportJson, byte[] nonce, VerificationPolicy? policy = null, VerificationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(reportJson);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(reportJson, new JsonDocumentOptions { MaxDepth = 32 });
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            return new VerificationResult([CheckResult.Fail("report.format", "the report is not JSON: " + e.Message)]);
        }
        using (doc) return Verify(doc.RootElement, nonce, policy, options);
    }

    /// <summary>Verifies a parsed report for the nonce the caller sent.</summary>
    public static VerificationResult Verify(JsonElement report, byte[] nonce, VerificationPolicy? policy = null, VerificationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(nonce);
        var run = new Run(report, nonce, policy ?? new VerificationPolicy(), options ?? VerificationOptions.Default);
        try
        {
            return run.Execute();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A defect of this verifier, not a verdict on the report: refused, and named so tests catch it.
            run.Checks.Add(CheckResult.Fail("verifier.internal_error", $"the verifier failed on this input ({e.GetType().Name}); refused"));
            return new VerificationResult(run.Checks);
        }
    }

    private sealed class Run(JsonElement report, byte[] nonce, VerificationPolicy policy, VerificationOptions options)
    {
        public List<CheckResult> Checks { get; } = [];

        private KeySet? _keySet;
        private SortedDictionary<int, byte[]>? _pcrs;
        private byte[]? _ak;
        private TdMeasurements? _td;
        private TcbStatus? _tcb;
        private string _platform = "none";
        private bool _insecure;

        public VerificationResult Execute()
        {
            if (!Structure(out var evidence)) return new VerificationResult(Checks);
            CheckNonce();
            CheckKeySet();
            CheckTpmQuote(evidence);
            CheckHardware(evidence);
            CheckPolicy();
            if (evidence.TryGetProperty("imds_attested_document", out var imds)) CheckImds(imds);
            return new VerificationResult(Checks)
            {
                Platform = _platform,
                Insecure = _insecure,
                KeySet = _keySet,
                QuotedPcrs = _pcrs ?? new SortedDictionary<int, byte[]>(),
                Td = _td,
                Tcb = _tcb,
            };
        }

        private void Add(string name, bool passed, string pass, string fail) => Checks.Add(new CheckResult(name, passed, passed ? pass : fail));

        private bool Structure(out JsonElement evidence)
        {
            evidence = default;
            if (report.ValueKind != JsonValueKind.Object)
                return Fail("report.format", "the report is not a JSON object");
            if (Json.FirstDuplicate(report) is { } duplicate)
                return Fail("report.format", $"the report names '{duplicate}' twice in one object (ambiguous)");
            if (!report.TryGetProperty("evidence", out evidence) || evidence.ValueKind != JsonValueKind.Object)
                return Fail("report.format", "the report has no evidence object");
            return true;
        }

        private bool Fail(string name, string reason)
        {
            Checks.Add(CheckResult.Fail(name, reason));
            return false;
        }

        private void CheckNonce()
        {
            var echoed = Json.Text(report, "nonce");
            if (nonce.Length is < 16 or > 64)
                Fail("nonce", "the verifier's nonce must be 16–64 random bytes");
            else
                Add("nonce", echoed == Convert.ToHexStringLower(nonce), "the report echoes our nonce",
                    echoed is null ? "the report has no nonce (a replayable boot report)" : "the report answers another nonce");
        }

        private void CheckKeySet()
        {
            if (!report.TryGetProperty("key_set", out var json))
            {
                Fail("key_set", "the report carries no key set: nothing binds the service's keys to the evidence");
                return;
            }
            try
            {
                _keySet = KeySet.FromJson(json);
                Checks.Add(CheckResult.Pass("key_set", $"{_keySet.Keys.Count} key(s), digest {Convert.ToHexStringLower(_keySet.Digest)[..16]}… (recomputed)"));
            }
            catch (EvidenceFormatException e)
            {
                Fail("key_set", e.Message);
            }
            if (policy.SigningKeyFingerprint is { } pinned)
                Add("key_set.pinned", _keySet?.FindSigningKey(pinned) is not null, "the key set holds the pinned answer-signing key", "the key set does not hold the pinned answer-signing key");
        }

        private void CheckTpmQuote(JsonElement evidence)
        {
            if (!evidence.TryGetProperty("tpm_quote", out var quote) || quote.ValueKind != JsonValueKind.Object)
            {
                Fail("tpm_quote", "the report has no TPM quote");
                return;
            }
            var message = Json.Base64(quote, "message");
            var signature = Json.Base64(quote, "signature");
            _ak = Json.Base64(quote, "ak_public");
            if (message is null || signature is null || _ak is null)
            {
                Fail("tpm_quote.structure", "tpm_quote needs base64 message, signature and ak_public");
                return;
            }
            var pcrs = quote.TryGetProperty("pcrs", out var p) && p.ValueKind == JsonValueKind.Object && p.TryGetProperty("sha256", out var s) ? s : default;
            if (pcrs.ValueKind is not (JsonValueKind.Object or JsonValueKind.Undefined))
            {
                Fail("tpm_quote.pcr_values", "tpm_quote.pcrs.sha256 must be an object");
                return;
            }
            // Without a key set the expected extraData is unknowable: the check fails (an impossible value).
            var expected = _keySet?.ExtraData(nonce) ?? new byte[33];
            Checks.AddRange(TpmQuoteVerifier.Verify(message, signature, _ak, TpmQuoteVerifier.Members(pcrs), expected, out _pcrs));
        }

        private void CheckHardware(JsonElement evidence)
        {
            var hasHcl = evidence.TryGetProperty("hcl_report", out var hclJson);
            var hasTd = evidence.TryGetProperty("td_quote", out var tdJson);
            if (!hasHcl && !hasTd)
            {
                if (options.AllowInsecurePlatform)
                {
                    _insecure = true;
                    Checks.Add(CheckResult.Pass("platform", "INSECURE: no hardware evidence — the TPM's key is vouched for by nothing; accepted only because the caller allowed an insecure platform"));
                }
                else
                {
                    Fail("platform", "no hardware evidence (no HCL report, no TD quote): the JSON's platform claims prove nothing; refused (--allow-insecure-platform accepts a software TPM for development)");
                }
                return;
            }
            if (!hasHcl)
            {
                Fail("hcl_report", "a TD quote without an HCL report: nothing ties the TPM's key to the TD");
                Fail("platform", "the hardware evidence is incomplete");
                return;
            }
            var hardware = CheckHcl(hclJson, hasTd ? tdJson : null);
            if (hardware is null) Fail("platform", "the hardware evidence does not verify (see the failed checks)");
            else
            {
                _platform = hardware;
                Checks.Add(CheckResult.Pass("platform", $"{hardware}: the hardware chain covers the TPM's key and the key set"));
            }
        }

        /// <summary>The HCL report and what hangs on it; the platform it proves, or null.</summary>
        private string? CheckHcl(JsonElement hclJson, JsonElement? tdJson)
        {
            HclReport hcl;
            try
            {
                var bytes = hclJson.ValueKind == JsonValueKind.String ? Json.DecodeBase64(hclJson.GetString()!) : null;
                hcl = HclReport.Parse(bytes ?? throw new EvidenceFormatException("hcl_report is not base64"));
                Checks.Add(CheckResult.Pass("hcl_report.format", $"an HCL report of type {hcl.Type}"));
            }
            catch (Exception e) when (e is EvidenceFormatException or ArgumentException)
            {
                Fail("hcl_report.format", e.Message);
                return null;
            }
            var ok = true;
            ok &= Check("hcl_report.runtime_data", () => hcl.RuntimeDataIsBound, "REPORTDATA[0:32] = SHA-256(runtime data): the hardware report covers HCLAkPub and user-data", "REPORTDATA does not hash the runtime data");
            ok &= Check("hcl_report.ak", () => _ak is not null && hcl.AkPublicKeySpki().AsSpan().SequenceEqual(_ak), "the TPM quote's AK is the hardware-reported HCLAkPub", "the TPM quote was signed by another key than HCLAkPub");
            ok &= Check("hcl_report.user_data", () => _keySet is not null && hcl.UserData().AsSpan().SequenceEqual(_keySet.UserData()), "user-data = key-set digest ‖ 32 zero bytes", "user-data does not bind this key set");
            switch (hcl.Type)
            {
                case HclReportType.Tdx:
                    ok &= CheckTdReportHashes(hcl.HardwareReport);
                    if (tdJson is not { } td)
                    {
                        Fail("td_quote", "a TDX HCL report without a TD quote: the TD report's MAC can be checked only on that machine");
                        return null;
                    }
                    ok &= CheckTdQuote(td, hcl.HardwareReport);
                    return ok ? "azure-tdx" : null;
                case HclReportType.Snp:
                    if (tdJson is not null) ok &= Fail("td_quote", "a TD quote beside an SEV-SNP HCL report");
                    ok &= CheckSnp(hcl);
                    return ok ? "azure-snp" : null;
                default:
                    Fail("hcl_report.format", "unknown hardware report type");
                    return null;
            }
        }

        private bool Check(string name, Func<bool> condition, string pass, string fail)
        {
            bool passed;
            string? why = null;
            try
            {
                passed = condition();
            }
            catch (Exception e) when (e is EvidenceFormatException or JsonException or FormatException or KeyNotFoundException or InvalidOperationException or CryptographicException or ArgumentException)
            {
                passed = false;
                why = e.Message;
            }
            Add(name, passed, pass, why is null ? fail : $"{fail}: {why}");
            return passed;
        }

        /// <summary>TEE_TCB_INFO_HASH and TEE_INFO_HASH in the TD report's REPORTMACSTRUCT cover TEE_TCB_INFO and TDINFO (SHA-384).</summary>
        private bool CheckTdReportHashes(byte[] tdReport) => Check("hcl_report.td_report",
            () => tdReport.Length == 1024
                && SHA384.HashData(tdReport.AsSpan(256, 239)).AsSpan().SequenceEqual(tdReport.AsSpan(32, 48))
                && SHA384.HashData(tdReport.AsSpan(512, 512)).AsSpan().SequenceEqual(tdReport.AsSpan(80, 48)),
            "the TD report's TEE_TCB_INFO and TDINFO hash to its REPORTMACSTRUCT",
            "the TD report's TEE_TCB_INFO or TDINFO does not hash to its REPORTMACSTRUCT");

        private bool CheckTdQuote(JsonElement json, byte[] tdReport)
        {
            var bytes = json.ValueKind == JsonValueKind.String ? Json.DecodeBase64(json.GetString()!) : null;
            if (bytes is null) return Fail("td_quote.format", "td_quote is not base64");
            var checks = TdQuoteVerification.Verify(bytes, policy, options, out var body, out _tcb);
            Checks.AddRange(checks);
            if (body is null) return false;
            var ok = checks.All(c => c.Passed);
            ok &= Check("td_quote.matches_hcl", () => MatchesTdReport(body, tdReport),
                "the TD quote's body is the HCL report's TD report (SEAM, TD attributes, XFAM, MRTD, config/owner ids, RTMRs, REPORTDATA)",
                "the TD quote is of another TD report than the HCL report's");
            _td = ok ? body : null;
            return ok;
        }

        /// <summary>Every TD report field the quote body carries (TDX module ABI: TEE_TCB_INFO at 256, TDINFO at 512; REPORTDATA at 128).</summary>
        private static bool MatchesTdReport(TdMeasurements q, byte[] r) =>
            q.TeeTcbSvn.SequenceEqual(r.AsSpan(264, 16))
            && q.MrSeam.SequenceEqual(r.AsSpan(280, 48))
            && q.MrSignerSeam.SequenceEqual(r.AsSpan(328, 48))
            && q.SeamAttributes.SequenceEqual(r.AsSpan(376, 8))
            && q.TdAttributes.SequenceEqual(r.AsSpan(512, 8))
            && q.Xfam.SequenceEqual(r.AsSpan(520, 8))
            && q.TdInfoMeasurements.SequenceEqual(r.AsSpan(528, 384))
            && q.ReportData.SequenceEqual(r.AsSpan(128, 64));

        private bool CheckSnp(HclReport hcl) => SnpVerification.Verify(hcl, report, options, Checks);

        private void CheckPolicy()
        {
            if (policy.Platform is { } expected)
                Add("policy.platform", _platform == expected, $"the evidence proves {expected}", $"the policy requires {expected}; the evidence proves {(_insecure ? "no hardware platform (insecure)" : _platform)}");
            if (_td is not null)
                Add("policy.debug", policy.AllowDebug || !_td.Debug, _td.Debug ? "a debug TD, allowed by the policy" : "the TD is not in debug mode", "the TD runs in debug mode (TDATTRIBUTES.DEBUG): its host can read and change it; refused unless the policy sets allow_debug");
            foreach (var field in VerificationPolicy.TdFields)
            {
                if (!policy.Td.TryGetValue(field, out var accepted)) continue;
                if (_td is null)
                {
                    Fail($"policy.{field}", "the policy pins the TD but there is no verified TD quote");
                    continue;
                }
                var actual = _td.Field(field);
                Add($"policy.{field}", accepted.Contains(actual), $"{field} {actual[..Math.Min(16, actual.Length)]}… is accepted", $"{field} is {actual[..Math.Min(16, actual.Length)]}…, not a value the policy accepts");
            }
            foreach (var (index, value) in policy.Pcrs)
            {
                var name = $"policy.pcr{index}";
                if (_pcrs is null) Fail(name, "no quoted PCR values to compare");
                else if (!_pcrs.TryGetValue(index, out var actual)) Fail(name, $"PCR {index} is not in the quote's selection");
                else Add(name, Convert.ToHexStringLower(actual) == value, "matches the expected measurement", $"is {Convert.ToHexStringLower(actual)[..16]}…, expected {value[..16]}…");
            }
            // The measured launch: replayed to the app PCR's value as quoted (only quoted values count).
            if (policy.App is { } app) Checks.AddRange(AppMeasurement.Verify(report, _pcrs, app));
        }

        private void CheckImds(JsonElement imds)
        {
            var signature = imds.ValueKind == JsonValueKind.Object ? Json.Text(imds, "signature") : null;
            if (signature is null) Fail("imds.signature", "imds_attested_document has no signature");
            else Checks.AddRange(ImdsDocument.Verify(signature, [.. options.ImdsRoots], out _));
        }
    }
}

/// <summary>Small, non-throwing readers for report JSON.</summary>
internal static class Json
{
    public static string? Text(JsonElement o, string name) =>
        o.ValueKind == JsonValueKind.Object && o.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;

    public static byte[]? Base64(JsonElement o, string name) => Text(o, name) is { } s ? DecodeBase64(s) : null;

    /// <summary>Standard base64 (padding required), or null.</summary>
    public static byte[]? DecodeBase64(string s)
    {
        if (s.Length == 0 || s.Length > 16 * 1024 * 1024) return null;
        var buffer = new byte[s.Length];
        return Convert.TryFromBase64String(s, buffer, out var n) && n > 0 ? buffer[..n] : null;
    }

    /// <summary>The first member name that appears twice in one object, anywhere in the tree.</summary>
    public static string? FirstDuplicate(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (var p in e.EnumerateObject())
                {
                    if (!seen.Add(p.Name)) return p.Name.Length <= 40 ? p.Name : p.Name[..40] + "…";
                    if (FirstDuplicate(p.Value) is { } inner) return inner;
                }
                return null;
            case JsonValueKind.Array:
                foreach (var item in e.EnumerateArray())
                    if (FirstDuplicate(item) is { } inner) return inner;
                return null;
            default:
                return null;
        }
    }
}
