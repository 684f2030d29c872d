using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace TeeAspire.Attestation.Verifier.Cli;

/// <summary><c>tee-verify policy from-release manifest.json [--compose F] [--env F] [--td td-policy.json] -o policy.json</c>.</summary>
public static class FromReleaseCommand
{
    public static Command Create()
    {
        var manifest = new Argument<FileInfo>("manifest") { Description = "release-manifest.json from scripts/release.sh" };
        var compose = new Option<FileInfo?>("--compose") { Description = "The release's compose file (default: docker-compose.release.yaml beside the manifest), read by the launch's rule" };
        var env = new Option<FileInfo?>("--env") { Description = "The release's release.env (default: beside the manifest)" };
        var td = new Option<FileInfo?>("--td") { Description = "A policy file with the TD values (\"Which TD\"); its fields are kept" };
        var output = new Option<FileInfo>("--output", "-o") { Description = "Where to write the policy", Required = true };
        var command = new Command("from-release", "Make the policy for a release: its app measurement (images, compose, config, app PCR) plus the TD values given. The compose file and release.env are read by the launch's rule and must be the manifest's") { manifest, compose, env, td, output };
        command.SetAction((parse, ct) => Cli.Run(() => RunAsync(parse.GetValue(manifest)!, parse.GetValue(td), parse.GetValue(output)!, ct, parse.GetValue(compose), parse.GetValue(env))));
        return command;
    }

    public static async Task<int> RunAsync(FileInfo manifestFile, FileInfo? tdFile, FileInfo output, CancellationToken ct, FileInfo? composeFile = null, FileInfo? envFile = null)
    {
        ArgumentNullException.ThrowIfNull(manifestFile);
        ArgumentNullException.ThrowIfNull(output);
        var dir = manifestFile.DirectoryName ?? ".";
        composeFile ??= new FileInfo(Path.Combine(dir, "docker-compose.release.yaml"));
        envFile ??= new FileInfo(Path.Combine(dir, "release.env"));
        var texts = new Dictionary<string, string>();
        foreach (var (what, file) in new[] { ("the manifest", manifestFile), ("the compose file", composeFile), ("release.env", envFile) })
        {
            if (!file.Exists) return Refuse($"{what} ({file.FullName}) does not exist");
            if (file.Length > ComposeRelease.MaxBytes) return Refuse($"{what} is larger than {ComposeRelease.MaxBytes} bytes");
            try
            {
                texts[what] = await File.ReadAllTextAsync(file.FullName, ct);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return Refuse($"cannot read {what}: {e.Message}");
            }
        }
        if (!ReleaseManifest.TryRead(texts["the manifest"], out var manifest, out var problem)) return Refuse($"the manifest is refused: {problem}");
        if (manifest!.CheckFiles(texts["the compose file"], texts["release.env"]) is { } mismatch) return Refuse($"the release's files are refused: {mismatch}");
        JsonObject policy;
        try
        {
            policy = tdFile is null ? [] : JsonNode.Parse(await File.ReadAllTextAsync(tdFile.FullName, ct)) as JsonObject ?? throw new JsonException("not an object");
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            return Refuse($"--td is not a policy file: {e.Message}");
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
            return Refuse($"the policy made from the release does not load: {invalid}");
        await File.WriteAllTextAsync(output.FullName, text + "\n", ct);
        Console.WriteLine($"wrote the policy for the release (PCR {manifest.AppPcr.Index} = {manifest.AppPcr.Sha256[..16]}…, {manifest.Images.Count} images of {manifest.Services.Count} services) to {output.FullName}");
        return 0;
    }

    private static int Refuse(string reason)
    {
        Console.Error.WriteLine(reason);
        return 2;
    }
}
