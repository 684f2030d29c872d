using System.Text.Json.Nodes;
using TeeAspire.Attestation.Verifier;
using TeeAspire.Attestation.Verifier.Cli;

namespace TeeAspire.Tests;

/// <summary>
/// The release manifest and the release's files as `policy from-release` reads them: every input is
/// a policy or a refusal with exit 2 and a reason — never an exception (issue 29, finding 7: a
/// manifest without app_pcr or images crashed with a NullReferenceException).
/// </summary>
public sealed class ReleaseManifestTests : IDisposable
{
    private const string Gateway = "registry.example/teeaspire/gateway@sha256:1111111111111111111111111111111111111111111111111111111111111111";
    private const string Worker = "registry.example/teeaspire/worker@sha256:2222222222222222222222222222222222222222222222222222222222222222";
    private const string Compose = $"services:\n  gateway:\n    image: \"{Gateway}\"\n    environment:\n      Parameters__master-key: ${{MASTER_KEY}}\n  inference-worker: {{image: {Worker}}}\n";
    private const string Env = "# non-secret\nInference__IdleTimeout=00:00:30\n";

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("tee-manifest-");

    public void Dispose() => _dir.Delete(recursive: true);

    /// <summary>A manifest as scripts/release.sh writes it, computed here from the protocol's definitions.</summary>
    private static JsonObject Manifest(string compose = Compose, string env = Env)
    {
        var composeSha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(compose)));
        var configSha = ReleaseManifest.ConfigSha256Of(env);
        string[] images = ["sha256:" + new string('1', 64), "sha256:" + new string('2', 64)];
        (string Type, string Data)[] facts = [("compose", composeSha), ("image", images[0]), ("image", images[1]), ("config", configSha), ("interactive_access", AppMeasurement.LockedAccess)];
        var events = new JsonArray([.. facts.Select((f, i) => (JsonNode)new JsonObject
        {
            ["index"] = i, ["type"] = f.Type, ["data"] = f.Data, ["digest"] = Convert.ToHexStringLower(AppMeasurement.EventDigest(f.Type, f.Data)),
        })]);
        var pcr = Convert.ToHexStringLower(AppMeasurement.Replay(facts.Select(f => AppMeasurement.EventDigest(f.Type, f.Data))));
        return new JsonObject
        {
            ["version"] = 1, ["created"] = "2026-12-07T00:00:00Z", ["compose_sha256"] = composeSha, ["config_sha256"] = configSha,
            ["services"] = new JsonObject { ["gateway"] = Gateway, ["inference-worker"] = Worker },
            ["secret_variables"] = new JsonArray("MASTER_KEY"),
            ["images"] = new JsonArray([.. images.Select(i => (JsonNode)i)]), ["interactive_access"] = AppMeasurement.LockedAccess,
            ["app_pcr"] = new JsonObject { ["index"] = 13, ["sha256"] = pcr }, ["events"] = events,
        };
    }

    private async Task<(int Code, string Policy)> FromReleaseAsync(string manifest, string compose = Compose, string env = Env)
    {
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, "release-manifest.json"), manifest, TestContext.Current);
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, "docker-compose.release.yaml"), compose, TestContext.Current);
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, "release.env"), env, TestContext.Current);
        var output = new FileInfo(Path.Combine(_dir.FullName, "policy.json"));
        if (output.Exists) output.Delete();
        var code = await FromReleaseCommand.RunAsync(new FileInfo(Path.Combine(_dir.FullName, "release-manifest.json")), null, output, TestContext.Current);
        return (code, File.Exists(output.FullName) ? await File.ReadAllTextAsync(output.FullName, TestContext.Current) : "");
    }

    [Fact]
    public async Task AConsistentReleaseMakesAPolicyThatPinsItsImagesAndPcr()
    {
        var (code, policy) = await FromReleaseAsync(Manifest().ToJsonString());

        Assert.Equal(0, code);
        var loaded = VerificationPolicy.Load(policy);
        Assert.Equal(["sha256:" + new string('1', 64), "sha256:" + new string('2', 64)], loaded.App!.Images);
    }

    [Theory]
    [InlineData("app_pcr")]
    [InlineData("images")]
    [InlineData("events")]
    [InlineData("services")]
    [InlineData("compose_sha256")]
    [InlineData("secret_variables")]
    public async Task AManifestWithoutARequiredFieldIsRefusedWithExitTwo(string field)
    {
        var manifest = Manifest();
        manifest.Remove(field);

        var (code, policy) = await FromReleaseAsync(manifest.ToJsonString());

        Assert.Equal(2, code);
        Assert.Equal("", policy);
    }

    [Theory]
    [InlineData("app_pcr")]
    [InlineData("images")]
    [InlineData("interactive_access")]
    public async Task AManifestWithANullFieldIsRefusedWithExitTwo(string field)
    {
        var manifest = Manifest();
        manifest[field] = null;

        Assert.Equal(2, (await FromReleaseAsync(manifest.ToJsonString())).Code);
    }

    [Fact]
    public async Task AManifestWithANullImageIsRefusedWithExitTwo()
    {
        var manifest = Manifest();
        manifest["images"]!.AsArray().Add(null);

        Assert.Equal(2, (await FromReleaseAsync(manifest.ToJsonString())).Code);
    }

    [Fact]
    public async Task AManifestThatHidesAServiceOfTheComposeFileIsRefused()
    {
        // The attack of issue 24: the compose file runs a second image under a quoted key; a manifest
        // made by the old line reader lists only the first. The compose hash is the file's own.
        var compose = Compose + "  \"exfil\":\n    \"image\": \"docker.io/attacker/exfil@sha256:3333333333333333333333333333333333333333333333333333333333333333\"\n";

        var (code, _) = await FromReleaseAsync(Manifest(compose).ToJsonString(), compose);

        Assert.Equal(2, code);
    }

    [Fact]
    public async Task AComposeFileOtherThanTheManifestsIsRefused()
    {
        var (code, _) = await FromReleaseAsync(Manifest().ToJsonString(), Compose.Replace("gateway:", "gateway2:", StringComparison.Ordinal));

        Assert.Equal(2, code);
    }

    [Fact]
    public async Task AReleaseEnvSettingASecretVariableIsRefused()
    {
        var env = Env + "MASTER_KEY=sk-tee-master-leaked\n";

        var (code, _) = await FromReleaseAsync(Manifest(env: env).ToJsonString(), env: env);

        Assert.Equal(2, code);
    }

    [Fact]
    public void TextMutationsOfAManifestAlwaysGetAManifestOrAReason()
    {
        var random = new Random(20261207);
        var text = Manifest().ToJsonString();
        string[] tokens = ["{", "}", "[", "]", ",", ":", "\"", "null", "true", "1e999", "-0", "99999999999999999999999", "\"app_pcr\"", "\"images\"", "\"services\"", "\"index\"", "\\u0000"];
        for (var i = 0; i < 3000; i++)
        {
            var mutated = FuzzTests.MutateText(random, text, tokens);
            AssertReadOrRefused(mutated);
        }
    }

    [Fact]
    public void StructuralMutationsOfAManifestAlwaysGetAManifestOrAReason()
    {
        var random = new Random(20261208);
        JsonNode?[] values = [null, true, 0, -1, 24, int.MaxValue, 1e300, "", "x", "sha256:" + new string('f', 64), new string('a', 64), new JsonArray(), new JsonArray((JsonNode?)null), new JsonObject()];
        for (var i = 0; i < 2000; i++)
        {
            var manifest = Manifest();
            var targets = new List<(JsonNode Parent, string? Key, int Index)>();
            Collect(manifest, targets);
            var (parent, key, index) = targets[random.Next(targets.Count)];
            var value = values[random.Next(values.Length)]?.DeepClone();
            if (key is not null) parent[key] = value;
            else parent.AsArray()[index] = value;
            AssertReadOrRefused(manifest.ToJsonString());
        }
    }

    /// <summary>A manifest (whose files check without throwing) or a reason; an exception fails the test.</summary>
    private static void AssertReadOrRefused(string text)
    {
        if (ReleaseManifest.TryRead(text, out var manifest, out var error)) _ = manifest!.CheckFiles(Compose, Env);
        else Assert.False(string.IsNullOrEmpty(error));
    }

    private static void Collect(JsonNode node, List<(JsonNode, string?, int)> targets)
    {
        if (node is JsonObject o)
            foreach (var (k, v) in o.ToList())
            {
                targets.Add((o, k, -1));
                if (v is not null) Collect(v, targets);
            }
        else if (node is JsonArray a)
            for (var i = 0; i < a.Count; i++)
            {
                targets.Add((a, null, i));
                if (a[i] is { } v) Collect(v, targets);
            }
    }
}
