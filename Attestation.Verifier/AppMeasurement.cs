using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TeeAspire.Attestation.Verifier;

/// <summary>The <c>app</c> section of a policy (PROTOCOL.md "Policy file"): the release a customer pins.</summary>
public sealed class AppPolicy
{
    /// <summary>The PCR the measured launch extends.</summary>
    [JsonPropertyName("pcr")]
    public int Pcr { get; set; } = 13;

    [JsonPropertyName("compose_sha256")]
    public string? ComposeSha256 { get; set; }

    /// <summary>The exact set of image digests (<c>sha256:&lt;hex&gt;</c>).</summary>
    [JsonPropertyName("images")]
    public List<string> Images { get; set; } = [];

    [JsonPropertyName("config_sha256")]
    public string? ConfigSha256 { get; set; }

    /// <summary>Accept a launch with SSH or VM extensions on (the debug profile); never by default.</summary>
    [JsonPropertyName("allow_interactive_access")]
    public bool AllowInteractiveAccess { get; set; }

    /// <summary>Why this section cannot be used, or null.</summary>
    public string? Problem() =>
        Pcr is < 0 or > 23 ? "app.pcr must be 0–23"
        : ComposeSha256 is not null && !AppMeasurement.IsHex64(ComposeSha256) ? "app.compose_sha256 must be 64 hex digits"
        : ConfigSha256 is not null && !AppMeasurement.IsHex64(ConfigSha256) ? "app.config_sha256 must be 64 hex digits"
        : Images.Count == 0 || Images.Any(i => !AppMeasurement.IsImageDigest(i)) ? "app.images must list image digests sha256:<64 hex>"
        : null;
}

/// <summary>
/// Checks the measured launch (PROTOCOL.md "App event log"): replays the report's <c>app_event_log</c>
/// — each event's digest recomputed from its type and data, PCR = SHA-256(PCR ‖ digest) from 32
/// zero bytes — to the app PCR's value as covered by the TPM quote, then checks the events against
/// the policy's <c>app</c> section. Hostile logs are failed checks, never exceptions.
/// </summary>
public static class AppMeasurement
{
    public const string Prefix = "tee-aspire/app-event/v1";

    /// <summary>What a verdict covers about the software, printed with every VERIFIED (issue 24, point 4).</summary>
    public const string Scope =
        "Scope: VERIFIED covers the TD and paravisor, PCRs 0-7 (firmware, boot loader, kernel) and, with an app policy, the compose file, "
        + "image digests, configuration and access measured at launch and every container seen since. Not covered: the guest OS disk — "
        + "with the stock Canonical image the launch scripts that take these measurements are outside them; you trust the operator for them "
        + "(deploy/MEASURED-IMAGE.md).";
    public const string LockedAccess = "profile=locked ssh=off extensions=off";
    public const int MaxEvents = 4096;
    public const int MaxData = 512;
    public static readonly IReadOnlyList<string> Types = ["compose", "image", "config", "interactive_access", "unexpected"];
    public static readonly IReadOnlyList<string> CheckNames = ["app.replay", "app.compose", "app.images", "app.config", "app.unexpected", "app.interactive_access"];

    public sealed record AppEvent(int Index, string Type, string Data, byte[] Digest);

    /// <summary>SHA-256("tee-aspire/app-event/v1\n" ‖ type ‖ "\n" ‖ data), over ASCII.</summary>
    public static byte[] EventDigest(string type, string data) => SHA256.HashData(Encoding.ASCII.GetBytes($"{Prefix}\n{type}\n{data}"));

    public static byte[] Replay(IEnumerable<byte[]> digests)
    {
        var pcr = new byte[32];
        foreach (var d in digests) pcr = SHA256.HashData([.. pcr, .. d]);
        return pcr;
    }

    /// <summary>All six app checks for a report, given the PCR values the verified quote covers.</summary>
    public static IReadOnlyList<CheckResult> Verify(JsonElement report, IReadOnlyDictionary<int, byte[]>? quotedPcrs, AppPolicy policy)
    {
        if (policy.Problem() is { } problem) return Fail("the policy's app section is unusable: " + problem);
        if (!report.TryGetProperty("app_event_log", out var log) || log.ValueKind != JsonValueKind.Array)
            return Fail("the report has no app event log: nothing shows which software was launched");
        if (!TryParse(log, out var events, out var error)) return Fail("the app event log is malformed: " + error);
        if (quotedPcrs is null || !quotedPcrs.TryGetValue(policy.Pcr, out var quoted))
            return Fail($"PCR {policy.Pcr} is not covered by a valid quote");
        var replayed = Replay(events.Select(e => e.Digest));
        if (!CryptographicOperations.FixedTimeEquals(replayed, quoted))
            return Fail($"the {events.Count} events replay to {Convert.ToHexStringLower(replayed)[..16]}…, the quoted PCR {policy.Pcr} is {Convert.ToHexStringLower(quoted)[..16]}…");
        return
        [
            CheckResult.Pass("app.replay", $"{events.Count} events replay to the quoted PCR {policy.Pcr}"),
            One(events, "compose", "app.compose", policy.ComposeSha256, "the compose file"),
            Images(events, policy),
            One(events, "config", "app.config", policy.ConfigSha256, "the configuration"),
            events.FirstOrDefault(e => e.Type == "unexpected") is { } u
                ? CheckResult.Fail("app.unexpected", $"a container outside the release was started: {u.Data}")
                : CheckResult.Pass("app.unexpected", "no container outside the release was started"),
            Access(events, policy),
        ];
    }

    private static CheckResult One(List<AppEvent> events, string type, string check, string? expected, string what)
    {
        var found = events.Where(e => e.Type == type).ToList();
        if (found.Count != 1) return CheckResult.Fail(check, $"{found.Count} {type} events: a launch measures {what} exactly once");
        if (expected is null) return CheckResult.Pass(check, $"{what} {found[0].Data[..Math.Min(16, found[0].Data.Length)]}… (not pinned by the policy)");
        return string.Equals(found[0].Data, expected, StringComparison.OrdinalIgnoreCase)
            ? CheckResult.Pass(check, $"{what} is the release's")
            : CheckResult.Fail(check, $"{what} is {found[0].Data[..Math.Min(16, found[0].Data.Length)]}…, the release's is {expected[..16]}…");
    }

    private static CheckResult Images(List<AppEvent> events, AppPolicy policy)
    {
        var launched = events.Where(e => e.Type == "image").Select(e => e.Data).ToHashSet(StringComparer.Ordinal);
        var expected = policy.Images.Select(i => i.ToLowerInvariant()).ToHashSet(StringComparer.Ordinal);
        var extra = launched.Except(expected).ToList();
        var missing = expected.Except(launched).ToList();
        return extra.Count == 0 && missing.Count == 0
            ? CheckResult.Pass("app.images", $"the release's {expected.Count} images, by digest")
            : CheckResult.Fail("app.images", $"images not in the release: [{string.Join(", ", extra)}]; release images not launched: [{string.Join(", ", missing)}]");
    }

    private static CheckResult Access(List<AppEvent> events, AppPolicy policy)
    {
        var found = events.Where(e => e.Type == "interactive_access").ToList();
        if (found.Count != 1) return CheckResult.Fail("app.interactive_access", $"{found.Count} interactive_access events: a launch measures it exactly once");
        if (found[0].Data == LockedAccess) return CheckResult.Pass("app.interactive_access", "no SSH, no VM extensions (locked profile)");
        return policy.AllowInteractiveAccess
            ? CheckResult.Pass("app.interactive_access", $"interactive access on ({found[0].Data}), accepted by the policy")
            : CheckResult.Fail("app.interactive_access", $"interactive access is on: {found[0].Data}");
    }

    private static IReadOnlyList<CheckResult> Fail(string reason) =>
        [CheckResult.Fail("app.replay", reason), .. CheckNames.Skip(1).Select(n => CheckResult.Fail(n, "not checked: the event log is not proven (app.replay)"))];

    /// <summary>Parses the log strictly: every field present and well-formed, indexes 0,1,2,…, digests recomputed and compared.</summary>
    public static bool TryParse(JsonElement log, out List<AppEvent> events, out string? error)
    {
        events = [];
        error = null;
        if (log.GetArrayLength() > MaxEvents) { error = $"more than {MaxEvents} events"; return false; }
        foreach (var e in log.EnumerateArray())
        {
            var i = events.Count;
            if (e.ValueKind != JsonValueKind.Object) { error = $"event {i} is not an object"; return false; }
            if (!e.TryGetProperty("index", out var index) || index.ValueKind != JsonValueKind.Number || !index.TryGetInt32(out var n) || n != i)
            { error = $"event {i} has no index {i}"; return false; }
            var type = e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : null;
            if (type is null || !Types.Contains(type)) { error = $"event {i} has an unknown type"; return false; }
            var data = e.TryGetProperty("data", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString()! : null;
            if (data is null || data.Length > MaxData || data.Any(c => c is < ' ' or > '~')) { error = $"event {i}'s data is not printable ASCII of at most {MaxData} bytes"; return false; }
            if (!ValidData(type, data)) { error = $"event {i}'s {type} data is malformed"; return false; }
            var digest = EventDigest(type, data);
            var claimed = e.TryGetProperty("digest", out var g) && g.ValueKind == JsonValueKind.String ? g.GetString()! : "";
            if (!string.Equals(claimed, Convert.ToHexStringLower(digest), StringComparison.Ordinal)) { error = $"event {i}'s digest is not SHA-256 of its canonical data"; return false; }
            events.Add(new AppEvent(i, type, data, digest));
        }
        return true;
    }

    private static bool ValidData(string type, string data) => type switch
    {
        "compose" or "config" => IsHex64(data) && data == data.ToLowerInvariant(),
        "image" => IsImageDigest(data),
        _ => data.Length > 0,
    };

    public static bool IsHex64(string s) => s.Length == 64 && s.All(Uri.IsHexDigit);

    public static bool IsImageDigest(string s) => s.StartsWith("sha256:", StringComparison.Ordinal) && IsHex64(s[7..]) && s == s.ToLowerInvariant();
}
