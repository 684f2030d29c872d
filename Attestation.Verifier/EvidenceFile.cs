using System.Text.Json;
using System.Text.Json.Serialization;

namespace TeeAspire.Attestation.Verifier;

/// <summary>An evidence file that cannot be used: the reason names the field.</summary>
public sealed class EvidenceFileFormatException(string message) : Exception(message);

/// <summary>The verdict an evidence file records, and the one a re-verification reaches.</summary>
/// <param name="Result"><c>VERIFIED</c>, <c>INSECURE</c> (passed only because an insecure platform was allowed) or <c>REFUSED</c>.</param>
/// <param name="Failed">The failed checks, in order.</param>
public sealed record EvidenceVerdict(string Result, IReadOnlyList<string> Failed)
{
    public const string Verified = "VERIFIED";
    public const string Insecure = "INSECURE";
    public const string Refused = "REFUSED";

    /// <summary>The verdict of a verification result.</summary>
    public static EvidenceVerdict Of(VerificationResult result) =>
        new(result.Passed ? result.Insecure ? Insecure : Verified : Refused, [.. result.Failed]);

    /// <summary>Same result and the same failed checks in the same order.</summary>
    public bool SameAs(EvidenceVerdict other) => Result == other.Result && Failed.SequenceEqual(other.Failed, StringComparer.Ordinal);

    public override string ToString() => Failed.Count == 0 ? Result : $"{Result} ({string.Join(", ", Failed)})";
}

/// <summary>
/// One verification kept as a file (PROTOCOL.md "Evidence file", written by the verification page
/// clients/browser/page): the report exactly as received, the nonce it answers, the policy and DCAP
/// collateral used, when it was verified, and the verdict. <see cref="Verify"/> re-verifies it
/// offline as of that time. Trust anchors and the insecure switch are never taken from the file:
/// they are the re-verifier's own <see cref="VerificationOptions"/>.
/// </summary>
public sealed class EvidenceFile
{
    /// <summary>The value of the file's <c>format</c> member.</summary>
    public const string Format = "tee-aspire/evidence/v1";

    private EvidenceFile(EvidenceFileDocument document, byte[] nonce, DateTimeOffset verifiedAt)
    {
        Document = document;
        Nonce = nonce;
        VerifiedAt = verifiedAt;
        Recorded = new EvidenceVerdict(document.Verdict!.Result!, document.Verdict.Failed ?? []);
    }

    private EvidenceFileDocument Document { get; }

    /// <summary>The report's text as the service sent it.</summary>
    public string Report => Document.Report!;

    /// <summary>The nonce the report was asked with.</summary>
    public byte[] Nonce { get; }

    /// <summary>The policy file's text used, or null.</summary>
    public string? Policy => Document.Policy;

    /// <summary>The DCAP collateral bundle's text used, or null.</summary>
    public string? Collateral => Document.Collateral;

    /// <summary>When it was verified: certificates, CRLs and collateral are checked as of this time.</summary>
    public DateTimeOffset VerifiedAt { get; }

    /// <summary>The service the report came from, as recorded (not evidence).</summary>
    public string? Service => Document.Service;

    /// <summary>Whether the recorder allowed an insecure platform (informative: <see cref="Verify"/> reads only its options).</summary>
    public bool RecordedAllowInsecurePlatform => Document.AllowInsecurePlatform;

    /// <summary>The verdict the file records.</summary>
    public EvidenceVerdict Recorded { get; }

    /// <summary>Whether a JSON text is an evidence file (an object whose <c>format</c> is <see cref="Format"/>) rather than a bare report.</summary>
    public static bool IsEvidenceFile(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String && f.GetString() == Format;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Reads an evidence file strictly; throws <see cref="EvidenceFileFormatException"/> naming what is wrong (never another exception).</summary>
    public static EvidenceFile Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        EvidenceFileDocument? d;
        try
        {
            d = JsonSerializer.Deserialize(json, EvidenceFileJson.Default.EvidenceFileDocument);
        }
        catch (JsonException e)
        {
            throw new EvidenceFileFormatException("the evidence file is not an evidence file: " + e.Message);
        }
        if (d is null || d.Format != Format) throw new EvidenceFileFormatException($"format must be \"{Format}\"");
        if (d.Nonce is not { Length: >= 32 and <= 128 } n || n.Length % 2 != 0 || !n.All(c => char.IsAsciiHexDigitLower(c) || char.IsAsciiDigit(c)))
            throw new EvidenceFileFormatException("nonce must be lowercase hex of 16–64 bytes");
        if (string.IsNullOrEmpty(d.Report)) throw new EvidenceFileFormatException("report must be the report's text");
        if (d.VerifiedAt is null || !DateTimeOffset.TryParse(d.VerifiedAt, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var at))
            throw new EvidenceFileFormatException("verified_at must be an ISO 8601 time");
        if (d.Verdict is not { Result: EvidenceVerdict.Verified or EvidenceVerdict.Insecure or EvidenceVerdict.Refused, Failed: not null } || d.Verdict.Failed.Any(f => f is null))
            throw new EvidenceFileFormatException("verdict must be {result: VERIFIED|INSECURE|REFUSED, failed: [check names]}");
        return new EvidenceFile(d, Convert.FromHexString(n), at);
    }

    /// <summary>
    /// Re-verifies the report with the file's nonce, policy (unless <paramref name="policyOverride"/>) and
    /// collateral (unless <paramref name="options"/> has its own), as of <see cref="VerifiedAt"/> (unless
    /// <paramref name="options"/> sets <see cref="VerificationOptions.Now"/>), with the caller's trust anchors
    /// and insecure switch. A policy in the file that does not load is a failed <c>policy.format</c>.
    /// </summary>
    public VerificationResult Verify(VerificationOptions? options = null, VerificationPolicy? policyOverride = null)
    {
        var policy = policyOverride;
        if (policy is null && !TryLoadPolicy(out policy, out var error))
            return new VerificationResult([CheckResult.Fail(VerificationPolicy.FormatCheck, error!)]);
        return ReportVerifier.Verify(Report, Nonce, policy, OptionsFor(options ?? VerificationOptions.Default));
    }

    /// <summary>The file's policy, loaded as <c>--policy</c> loads one; true with a null policy when the file has none.</summary>
    public bool TryLoadPolicy(out VerificationPolicy? policy, out string? error)
    {
        policy = null;
        error = null;
        return Policy is not { } text || VerificationPolicy.TryLoad(text, out policy, out error);
    }

    /// <summary>
    /// The caller's options (trust anchors, the insecure switch: never the file's) with the file's collateral
    /// where the caller gives none, and the file's verification time where the caller sets none.
    /// </summary>
    public VerificationOptions OptionsFor(VerificationOptions caller)
    {
        ArgumentNullException.ThrowIfNull(caller);
        return new VerificationOptions
        {
            AllowInsecurePlatform = caller.AllowInsecurePlatform, IntelRoot = caller.IntelRoot, AmdArk = caller.AmdArk, ImdsRoots = caller.ImdsRoots,
            CollateralJson = caller.CollateralJson ?? Collateral, TdxTcbInfo = caller.TdxTcbInfo, Now = caller.Now ?? VerifiedAt,
        };
    }
}

/// <summary>The evidence file as JSON (snake_case; unknown members refused).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed record EvidenceFileDocument
{
    public string? Format { get; init; }
    public string? Service { get; init; }
    public string? Nonce { get; init; }
    public string? VerifiedAt { get; init; }
    public bool AllowInsecurePlatform { get; init; }
    public string? Report { get; init; }
    public string? Policy { get; init; }
    public string? Collateral { get; init; }
    public EvidenceTrust? Trust { get; init; }
    public EvidenceVerdictDocument? Verdict { get; init; }
}

/// <summary>Which anchors the recorder used, by SHA-256 of their DER: informative only.</summary>
internal sealed record EvidenceTrust(string? IntelRootSha256, string? AmdArkSha256);

internal sealed record EvidenceVerdictDocument(string? Result, IReadOnlyList<string>? Failed, JsonElement? Checks);

// A member named twice is refused: the page (parseStrictJson) does the same, so both read the same report.
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, AllowDuplicateProperties = false)]
[JsonSerializable(typeof(EvidenceFileDocument))]
internal sealed partial class EvidenceFileJson : JsonSerializerContext;
