using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TeeAspire.Attestation.Verifier;

/// <summary>A release manifest (scripts/release.sh): what the measured launch of one release writes.</summary>
/// <param name="Version">1.</param>
/// <param name="ComposeSha256">SHA-256 of the compose file (the <c>compose</c> event).</param>
/// <param name="ConfigSha256">SHA-256 of the canonical release.env (the <c>config</c> event).</param>
/// <param name="Images">The image digests (the <c>image</c> events).</param>
/// <param name="InteractiveAccess">The <c>interactive_access</c> event of the locked profile.</param>
/// <param name="AppPcr">The app PCR and the value the events replay to.</param>
/// <param name="Events">The launch's events, as the log has them.</param>
/// <param name="Services">Each service's image as the compose file resolves it (the launch compares Compose's model with it).</param>
/// <param name="SecretVariables">The Compose variables the unmeasured secrets file may set (only in a service's environment).</param>
public sealed record ReleaseManifest(
    int Version,
    string ComposeSha256,
    string ConfigSha256,
    IReadOnlyList<string> Images,
    string InteractiveAccess,
    ReleasePcr AppPcr,
    JsonElement Events,
    IReadOnlyDictionary<string, string> Services,
    IReadOnlyList<string> SecretVariables)
{
    public const int MaxBytes = 1 << 20;

    /// <summary>
    /// Reads a manifest strictly: every field present, of its type and not null, the summary fields
    /// what the events say, the events replaying to <c>app_pcr</c>. Hostile input is a reason, never
    /// an exception.
    /// </summary>
    public static bool TryRead(string json, out ReleaseManifest? manifest, out string? error)
    {
        ArgumentNullException.ThrowIfNull(json);
        manifest = null;
        if (json.Length > MaxBytes) { error = $"more than {MaxBytes} characters"; return false; }
        ReleaseManifest? read;
        try
        {
            read = JsonSerializer.Deserialize(json, ReleaseManifestJson.Default.ReleaseManifest);
        }
        catch (JsonException e)
        {
            error = "not a release manifest: " + Printable(e.Message);
            return false;
        }
        error = read is null ? "not a release manifest: null" : Problem(read);
        if (error is not null) return false;
        manifest = read;
        return true;
    }

    /// <summary>
    /// Checks the release's files against the manifest by the rule the launch applies: the compose
    /// file read by <see cref="ComposeRelease"/> with release.env (strict) and the manifest's secret
    /// variables gives exactly the manifest's services; both files hash to the manifest's values.
    /// </summary>
    public string? CheckFiles(string composeText, string envText)
    {
        ArgumentNullException.ThrowIfNull(composeText);
        ArgumentNullException.ThrowIfNull(envText);
        if (!ComposeRelease.TryReadEnvFile(envText, out var variables, out var envError)) return "release.env: " + envError;
        if (SecretVariables.FirstOrDefault(variables.ContainsKey) is { } both) return $"release.env sets the secret variable {both}";
        var reading = ComposeRelease.Read(composeText, variables, SecretVariables);
        if (reading.Problem is not null) return "the compose file: " + reading.Problem;
        var services = reading.Services.ToDictionary(s => s.Name, s => s.Image, StringComparer.Ordinal);
        if (services.Count != Services.Count || services.Any(s => !Services.TryGetValue(s.Key, out var image) || image != s.Value))
            return $"the compose file resolves to {Describe(services)}, the manifest says {Describe(Services)}";
        if (!reading.Digests.SequenceEqual(Images.Order(StringComparer.Ordinal), StringComparer.Ordinal)) return "the compose file's images are not the manifest's images";
        if (Sha256(composeText) != ComposeSha256) return "the compose file is not the one the manifest hashes (compose_sha256)";
        if (ConfigSha256Of(envText) != ConfigSha256) return "release.env is not the one the manifest hashes (config_sha256)";
        return null;
    }

    /// <summary>SHA-256 of the canonical configuration (app-events.sh <c>app_config_canonical</c>): lines neither blank nor comments, CR stripped, sorted by bytes, unique, each ending in \n.</summary>
    public static string ConfigSha256Of(string envText)
    {
        var lines = envText.Replace("\r", "", StringComparison.Ordinal).Split('\n')
            .Where(l => l.Trim(' ', '\t', '\v', '\f').Length > 0 && !l.TrimStart(' ', '\t', '\v', '\f').StartsWith('#'))
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        return Sha256(string.Concat(lines.Select(l => l + "\n")));
    }

    private static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    private static string Describe(IEnumerable<KeyValuePair<string, string>> services) =>
        Printable("{" + string.Join(", ", services.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => $"{s.Key}: {s.Value}")) + "}");

    private static string Printable(string s) => new([.. s.Where(c => c is >= ' ' and <= '~').Take(400)]);

    /// <summary>The manifest's summary fields must be what its events say, and its events must replay to its PCR value.</summary>
    private static string? Problem(ReleaseManifest m)
    {
        if (m.Version != 1) return $"version {m.Version} is not 1";
        if (m.ComposeSha256 is null || m.ConfigSha256 is null || m.InteractiveAccess is null || m.AppPcr is null || m.Images is null || m.Services is null || m.SecretVariables is null)
            return "a required field is null";
        if (m.AppPcr.Sha256 is null || !AppMeasurement.IsHex64(m.AppPcr.Sha256)) return "app_pcr.sha256 must be 64 hex digits";
        if (m.Images.Any(i => i is null)) return "images: a null entry";
        if (m.Services.Count == 0 || m.Services.Any(s => s.Value is null || ComposeRelease.ImageDigest(s.Value) is null)) return "services: every service's image must be pinned by digest";
        if (m.SecretVariables.Any(v => v is null || v.Length is 0 or > 128 || !v.All(c => char.IsAsciiLetterOrDigit(c) || c == '_') || char.IsAsciiDigit(v[0])))
            return "secret_variables must be variable names";
        if (m.Events.ValueKind != JsonValueKind.Array) return "events: not a list";
        if (!AppMeasurement.TryParse(m.Events, out var events, out var error)) return "events: " + error;
        var policy = new AppPolicy { Pcr = m.AppPcr.Index, ComposeSha256 = m.ComposeSha256, ConfigSha256 = m.ConfigSha256, Images = [.. m.Images] };
        if (policy.Problem() is { } p) return p;
        if (!Convert.ToHexStringLower(AppMeasurement.Replay(events.Select(e => e.Digest))).Equals(m.AppPcr.Sha256, StringComparison.OrdinalIgnoreCase))
            return "the events do not replay to app_pcr.sha256";
        string[] single = [.. events.Where(e => e.Type is "compose" or "config" or "interactive_access").Select(e => $"{e.Type}={e.Data}")];
        if (!single.SequenceEqual([$"compose={m.ComposeSha256}", $"config={m.ConfigSha256}", $"interactive_access={m.InteractiveAccess}"])) return "compose/config/interactive_access differ from the events";
        if (!events.Where(e => e.Type == "image").Select(e => e.Data).Order(StringComparer.Ordinal).SequenceEqual(m.Images.Order(StringComparer.Ordinal))) return "images differ from the events";
        var serviceDigests = m.Services.Values.Select(i => ComposeRelease.ImageDigest(i)!).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        if (!serviceDigests.SequenceEqual(m.Images.Order(StringComparer.Ordinal), StringComparer.Ordinal)) return "images are not the services' digests";
        return events.Any(e => e.Type == "unexpected") ? "a release has no unexpected events" : null;
    }
}

public sealed record ReleasePcr(int Index, string Sha256);

// Required constructor parameters and nullable annotations respected: a missing or null field is a
// JsonException (a refusal), not a null reference later (issue 29, finding 7).
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, RespectRequiredConstructorParameters = true, RespectNullableAnnotations = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip, AllowDuplicateProperties = false)]
[JsonSerializable(typeof(ReleaseManifest))]
internal sealed partial class ReleaseManifestJson : JsonSerializerContext;
