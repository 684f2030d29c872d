using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace TeeAspire.Attestation.Verifier.Cli;

/// <summary>A release manifest (scripts/release.sh): what the measured launch of one release writes.</summary>
public sealed record ReleaseManifest(
    int Version,
    string ComposeSha256,
    string ConfigSha256,
    IReadOnlyList<string> Images,
    string InteractiveAccess,
    ReleasePcr AppPcr,
    JsonElement Events);

public sealed record ReleasePcr(int Index, string Sha256);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ReleaseManifest))]
internal sealed partial class ReleaseManifestJson : JsonSerializerContext;

/// <summary><c>tee-verify policy from-release manifest.json [--td td-policy.json] -o policy.json</c>.</summary>
public static class FromReleaseCommand
{
    public static Command Create()
    {
        var manifest = new Argument<FileInfo>("manifest") { Description = "release-manifest.json from scripts/release.sh" };
        var td = new Option<FileInfo?>("--td") { Description = "A policy file with the TD values (\"Which TD\"); its fields are kept" };
        var output = new Option<FileInfo>("--output", "-o") { Description = "Where to write the policy", Required = true };
        var command = new Command("from-release", "Make the policy for a release: its app measurement (images, compose, config, app PCR) plus the TD values given") { manifest, td, output };
        command.SetAction((parse, ct) => RunAsync(parse.GetValue(manifest)!, parse.GetValue(td), parse.GetValue(output)!, ct));
        return command;
    }

    public static async Task<int> RunAsync(FileInfo manifestFile, FileInfo? tdFile, FileInfo output, CancellationToken ct)
    {
        ReleaseManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize(await File.ReadAllTextAsync(manifestFile.FullName, ct), ReleaseManifestJson.Default.ReleaseManifest);
        }
        catch (JsonException e)
        {
            Console.Error.WriteLine($"the manifest is not a release manifest: {e.Message}");
            return 2;
        }
        var problem = manifest is null ? "empty" : Problem(manifest);
        if (manifest is null || problem is not null)
        {
            Console.Error.WriteLine($"the manifest is inconsistent: {problem}");
            return 2;
        }
        JsonObject policy;
        try
        {
            policy = tdFile is null ? [] : JsonNode.Parse(await File.ReadAllTextAsync(tdFile.FullName, ct)) as JsonObject ?? throw new JsonException("not an object");
        }
        catch (JsonException e)
        {
            Console.Error.WriteLine($"--td is not a policy file: {e.Message}");
            return 2;
        }
        var pcrs = policy["pcrs"] as JsonObject ?? [];
        pcrs[manifest.AppPcr.Index.ToString(System.Globalization.CultureInfo.InvariantCulture)] = manifest.AppPcr.Sha256.ToLowerInvariant();
        policy["pcrs"] = pcrs;
        policy["app"] = new JsonObject
        {
            ["pcr"] = manifest.AppPcr.Index,
            ["compose_sha256"] = manifest.ComposeSha256,
            ["images"] = new JsonArray([.. manifest.Images.Order(StringComparer.Ordinal).Select(i => (JsonNode)JsonValue.Create(i))]),
            ["config_sha256"] = manifest.ConfigSha256,
            ["allow_interactive_access"] = false,
        };
        var text = policy.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        if (!VerificationPolicy.TryLoad(text, out _, out var invalid)) // what customers will load must load
        {
            Console.Error.WriteLine($"the policy made from the release does not load: {invalid}");
            return 2;
        }
        await File.WriteAllTextAsync(output.FullName, text + "\n", ct);
        Console.WriteLine($"wrote the policy for the release (PCR {manifest.AppPcr.Index} = {manifest.AppPcr.Sha256[..16]}…, {manifest.Images.Count} images) to {output.FullName}");
        return 0;
    }

    /// <summary>The manifest's summary fields must be what its events say, and its events must replay to its PCR value.</summary>
    private static string? Problem(ReleaseManifest m)
    {
        if (m.Version != 1) return $"version {m.Version} is not 1";
        if (m.Events.ValueKind != JsonValueKind.Array) return "events: not a list";
        if (!AppMeasurement.TryParse(m.Events, out var events, out var error)) return "events: " + error;
        var policy = new AppPolicy { Pcr = m.AppPcr.Index, ComposeSha256 = m.ComposeSha256, ConfigSha256 = m.ConfigSha256, Images = [.. m.Images] };
        if (policy.Problem() is { } p) return p;
        if (!AppMeasurement.IsHex64(m.AppPcr.Sha256)) return "app_pcr.sha256 must be 64 hex digits";
        if (!Convert.ToHexStringLower(AppMeasurement.Replay(events.Select(e => e.Digest))).Equals(m.AppPcr.Sha256, StringComparison.OrdinalIgnoreCase))
            return "the events do not replay to app_pcr.sha256";
        string[] single = [.. events.Where(e => e.Type is "compose" or "config" or "interactive_access").Select(e => $"{e.Type}={e.Data}")];
        if (!single.SequenceEqual([$"compose={m.ComposeSha256}", $"config={m.ConfigSha256}", $"interactive_access={m.InteractiveAccess}"])) return "compose/config/interactive_access differ from the events";
        if (!events.Where(e => e.Type == "image").Select(e => e.Data).Order(StringComparer.Ordinal).SequenceEqual(m.Images.Order(StringComparer.Ordinal))) return "images differ from the events";
        return events.Any(e => e.Type == "unexpected") ? "a release has no unexpected events" : null;
    }
}
