using System.Security.Cryptography;
using System.Text.Json.Nodes;
using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Tests;

/// <summary>The measured launch on a real swtpm, the service serving its log, and the verifier judging it.</summary>
public sealed class MeasuredLaunchTests
{
    private static Dictionary<string, string?> Settings(MeasuredRelease release) => new() { ["Attestation:AppEventLog"] = release.Log };

    private static async Task<(VerificationResult Result, JsonObject Report)> VerifyAsync(AttestationHost host, VerificationPolicy policy)
    {
        var nonce = RandomNumberGenerator.GetBytes(32);
        var report = await host.ReportAsync(Convert.ToHexStringLower(nonce));
        return (ReportVerifier.Verify(report.ToJsonString(), nonce, policy, new VerificationOptions { AllowInsecurePlatform = true }) /* swtpm is not hardware */, report);
    }

    private static async Task WaitForPcrToReplayAsync(SwtpmServer tpm, MeasuredRelease release)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        while (!global::Attestation.Api.Evidence.TpmEvidence.ParsePcrs(await tpm.RunToolAsync("tpm2_pcrread", "sha256:13"))[13].SequenceEqual(MeasuredRelease.ReplayFile(release.Log)))
            await Task.Delay(50, timeout.Token);
    }

    private static string[] Failed(VerificationResult result) => [.. result.Checks.Where(c => !c.Passed).Select(c => c.Name)];

    [Fact]
    public async Task TheLaunchExtendsPcr13AndItsLogReplaysToTheTpmAndToTheManifest()
    {
        await using var tpm = await SwtpmServer.StartAsync();
        using var release = await MeasuredRelease.MakeAsync();

        var (code, output) = await release.LaunchAsync(tpm.Tcti);

        Assert.True(code == 0, output);
        var pcr = global::Attestation.Api.Evidence.TpmEvidence.ParsePcrs(await tpm.RunToolAsync("tpm2_pcrread", "sha256:13"))[13];
        Assert.Equal(pcr, MeasuredRelease.ReplayFile(release.Log));
        Assert.Equal(release.Manifest.GetProperty("app_pcr").GetProperty("sha256").GetString(), Convert.ToHexStringLower(pcr));
        Assert.Equal(["compose", "image", "image", "config", "interactive_access"],
            File.ReadAllLines(release.Log).Select(l => (string)JsonNode.Parse(l)!["type"]!));
    }

    [Fact]
    public async Task TheLaunchRefusesAnImageNotPinnedByDigestAndTouchesNothing()
    {
        await using var tpm = await SwtpmServer.StartAsync();
        using var release = await MeasuredRelease.MakeAsync();
        var compose = Path.Combine(release.Dir, "unpinned.yaml");
        await File.WriteAllTextAsync(compose, (await File.ReadAllTextAsync(release.ReleasedCompose)).TrimEnd() + "\n  sidecar:\n    image: registry.example/logger:latest\n");

        var (code, output) = await release.LaunchAsync(tpm.Tcti, compose: compose);

        Assert.NotEqual(0, code);
        Assert.Contains("not pinned by digest: registry.example/logger:latest", output);
        Assert.False(File.Exists(release.Log));
        Assert.Contains("0x0000000000000000000000000000000000000000000000000000000000000000", await tpm.RunToolAsync("tpm2_pcrread", "sha256:13"));
    }

    [Fact]
    public async Task ASecondLaunchInTheSameBootIsRefused()
    {
        await using var tpm = await SwtpmServer.StartAsync();
        using var release = await MeasuredRelease.MakeAsync();
        Assert.Equal(0, (await release.LaunchAsync(tpm.Tcti)).Code);

        var (code, output) = await release.LaunchAsync(tpm.Tcti);

        Assert.NotEqual(0, code);
        Assert.Contains("launched already", output);
    }

    [Fact]
    public async Task TheAppPcrCannotBeResetFromLocalityZeroButTheDebugPcrCan()
    {
        await using var tpm = await SwtpmServer.StartAsync();

        await Assert.ThrowsAsync<InvalidOperationException>(() => tpm.RunToolAsync("tpm2_pcrreset", "13"));
        await tpm.RunToolAsync("tpm2_pcrreset", "16");
    }

    [Fact]
    public async Task TheServiceServesTheLogWithAQuoteSelectingThePcrAndAPolicyFromTheReleaseVerifies()
    {
        using var release = await MeasuredRelease.MakeAsync();
        await using var host = await AttestationHost.StartAsync(Settings(release));
        Assert.Equal(0, (await release.LaunchAsync(host.Tpm.Tcti)).Code);

        var (result, report) = await VerifyAsync(host, await release.PolicyAsync());

        Assert.True(result.Passed, string.Join("\n", result.Checks.Where(c => !c.Passed)));
        Assert.Equal(5, report["app_event_log"]!.AsArray().Count);
        Assert.Contains("13", report["evidence"]!["tpm_quote"]!["pcrs"]!["sha256"]!.AsObject().Select(p => p.Key));
        foreach (var check in AppMeasurement.CheckNames) Assert.Contains(result.Checks, c => c.Name == check && c.Passed);
    }

    [Fact]
    public async Task ALaunchWithOneImageDigestChangedFailsNamingAppImages()
    {
        using var release = await MeasuredRelease.MakeAsync();
        await using var host = await AttestationHost.StartAsync(Settings(release));
        // The operator launches another release (its own compose and manifest) than the customers pinned.
        var swapped = Path.Combine(release.Dir, "swapped.yaml");
        await File.WriteAllTextAsync(swapped, (await File.ReadAllTextAsync(release.ReleasedCompose)).Replace(MeasuredRelease.Gateway, MeasuredRelease.Other));
        var other = Path.Combine(release.Dir, "other-release");
        await release.RunAsync(null, "scripts/release.sh", "--compose", swapped, "--env", release.ReleasedEnv, "--secret", MeasuredRelease.SecretVariable, "-o", other);
        var launched = await release.LaunchAsync(host.Tpm.Tcti, compose: Path.Combine(other, "docker-compose.release.yaml"), manifest: Path.Combine(other, "release-manifest.json"));
        Assert.True(launched.Code == 0, launched.Output);

        var (result, _) = await VerifyAsync(host, await release.PolicyAsync());

        Assert.Contains("app.images", Failed(result));
        Assert.Contains("app.compose", Failed(result));
        Assert.Contains(result.Checks, c => c.Name == "app.replay" && c.Passed); // the log is honest: the release is not
    }

    [Fact]
    public async Task AContainerStartedOutsideTheReleaseFailsNamingAppUnexpected()
    {
        using var release = await MeasuredRelease.MakeAsync();
        await using var host = await AttestationHost.StartAsync(Settings(release));
        Assert.Equal(0, (await release.LaunchAsync(host.Tpm.Tcti)).Code);

        await release.DockerAsync("run", "-d", "--name", "gateway-2", $"registry.example:5000/teeaspire/gateway@{MeasuredRelease.Gateway}");
        await release.DockerAsync("run", "-d", "--name", "prompt-logger", "registry.example/logger:latest");
        var allowed = await release.ObserveContainerAsync(host.Tpm.Tcti, "gateway-2");
        var unlisted = await release.ObserveContainerAsync(host.Tpm.Tcti, "prompt-logger");

        Assert.True(allowed.Code == 0 && unlisted.Code == 0, allowed.Output + unlisted.Output);
        var (result, report) = await VerifyAsync(host, await release.PolicyAsync());
        Assert.Equal(6, report["app_event_log"]!.AsArray().Count);
        Assert.Contains("app.unexpected", Failed(result));
        Assert.Contains(result.Checks, c => c.Name == "app.unexpected" && c.Reason.Contains("container=prompt-logger"));
        Assert.Contains(result.Checks, c => c.Name == "app.replay" && c.Passed);
    }

    [Fact]
    public async Task ALogThatDoesNotReplayToTheQuotedPcrFailsNamingAppReplay()
    {
        using var release = await MeasuredRelease.MakeAsync();
        await using var host = await AttestationHost.StartAsync(Settings(release));
        Assert.Equal(0, (await release.LaunchAsync(host.Tpm.Tcti)).Code);
        // The operator extends the PCR behind the log's back (an unlogged event).
        await host.Tpm.RunToolAsync("tpm2_pcrextend", "13:sha256=" + new string('a', 64));

        var (result, _) = await VerifyAsync(host, await release.PolicyAsync());

        Assert.Contains("app.replay", Failed(result));
    }

    [Fact]
    public async Task ALaunchWithDebugAccessFailsNamingAppInteractiveAccessUnlessThePolicyAllowsIt()
    {
        using var release = await MeasuredRelease.MakeAsync();
        await using var host = await AttestationHost.StartAsync(Settings(release));
        Assert.Equal(0, (await release.LaunchAsync(host.Tpm.Tcti, profile: "debug")).Code);
        var policy = await release.PolicyAsync();
        policy.Pcrs.Clear(); // the release's PCR value is for the locked profile; judge the events alone

        var (refused, report) = await VerifyAsync(host, policy);
        policy.App!.AllowInteractiveAccess = true;
        var (allowed, _) = await VerifyAsync(host, policy);

        Assert.Equal(["app.interactive_access"], Failed(refused));
        Assert.Contains(report["app_event_log"]!.AsArray(), e => (string?)e!["data"] == "profile=debug ssh=on extensions=on");
        Assert.True(allowed.Passed, string.Join("\n", allowed.Checks.Where(c => !c.Passed)));
    }

    [Fact]
    public async Task WithoutALogTheAppChecksFail()
    {
        using var release = await MeasuredRelease.MakeAsync();
        await using var host = await AttestationHost.StartAsync(Settings(release));

        var (result, report) = await VerifyAsync(host, await release.PolicyAsync());

        Assert.Null(report["app_event_log"]);
        Assert.Contains("app.replay", Failed(result));
    }

    // --- Issue 24: the image set is Compose's, every running container is checked -----------------

    [Fact]
    public async Task ALaunchStartsTheWatcherThenTheReleaseAndAPolicyFromTheReleaseVerifies()
    {
        using var release = await MeasuredRelease.MakeAsync();
        await using var host = await AttestationHost.StartAsync(Settings(release));

        var (code, output) = await release.LaunchAsync(host.Tpm.Tcti, start: true);

        Assert.True(code == 0, output);
        Assert.Contains("release started", output);
        Assert.Equal(2, (await release.DockerAsync("ps", "-q")).Split('\n').Length);
        var (result, _) = await VerifyAsync(host, await release.PolicyAsync());
        Assert.True(result.Passed, string.Join("\n", result.Checks.Where(c => !c.Passed)));
    }

    [Fact]
    public async Task AContainerOutsideTheReleaseRunningWhenTheWatcherStartsEndsInAnUnexpectedEvent()
    {
        using var release = await MeasuredRelease.MakeAsync();
        await using var host = await AttestationHost.StartAsync(Settings(release));
        Assert.Equal(0, (await release.LaunchAsync(host.Tpm.Tcti)).Code);
        // Started before the watcher (e.g. by the daemon's restart policy at boot): `docker events` never reports it.
        await release.DockerAsync("run", "-d", "--name", "prompt-logger", "registry.example/logger:latest");

        release.StartWatcher(host.Tpm.Tcti);
        await release.WaitForEventAsync(e => e.Type == "unexpected" && e.Data.Contains("container=prompt-logger", StringComparison.Ordinal));
        // And one started while it watches.
        await release.DockerAsync("run", "-d", "--name", "miner", "docker.io/attacker/miner:latest");
        await release.WaitForEventAsync(e => e.Type == "unexpected" && e.Data.Contains("container=miner", StringComparison.Ordinal));
        await WaitForPcrToReplayAsync(host.Tpm, release); // the watcher logs an event before it extends the PCR

        var (result, _) = await VerifyAsync(host, await release.PolicyAsync());
        Assert.Contains("app.unexpected", Failed(result));
        Assert.Contains(result.Checks, c => c.Name == "app.replay" && c.Passed);
    }

    [Fact]
    public async Task AContainerThatUpStartsWithADigestNotMeasuredEndsInAnUnexpectedEventAndTheLaunchFails()
    {
        using var release = await MeasuredRelease.MakeAsync();
        await using var host = await AttestationHost.StartAsync(Settings(release));
        // The engine runs something else than the pinned reference names (a tampered image store).
        release.TamperImageStore($"registry.example:5000/teeaspire/gateway@{MeasuredRelease.Gateway}", $"docker.io/attacker/exfil@{MeasuredRelease.Other}");

        var (code, output) = await release.LaunchAsync(host.Tpm.Tcti, start: true);

        Assert.NotEqual(0, code);
        Assert.Contains("does not count as started", output);
        Assert.Contains(release.Events(), e => e.Type == "unexpected" && e.Data.StartsWith("container=release-gateway-1 ", StringComparison.Ordinal));
        var (result, _) = await VerifyAsync(host, await release.PolicyAsync());
        Assert.Contains("app.unexpected", Failed(result));
    }

    [Fact]
    public async Task AnImageBehindAQuotedOrSpacedKeyIsInTheManifestAndTheLaunchMeasuresIt()
    {
        // The attack of issue 24: the old line reader saw one image here; Compose runs three.
        using var release = await MeasuredRelease.MakeAsync(MeasuredRelease.DefaultCompose
            + $"\n  \"exfil\":\n    \"image\": \"docker.io/attacker/exfil@{MeasuredRelease.Other}\"\n"
            + $"  other : {{ 'image' : docker.io/attacker/other@{MeasuredRelease.Other} }}\n");
        await using var tpm = await SwtpmServer.StartAsync();

        var (code, output) = await release.LaunchAsync(tpm.Tcti);

        Assert.True(code == 0, output);
        Assert.Contains(MeasuredRelease.Other, release.Manifest.GetProperty("images").EnumerateArray().Select(i => i.GetString()));
        Assert.Contains(("image", MeasuredRelease.Other), release.Events());
        Assert.Equal(release.Manifest.GetProperty("app_pcr").GetProperty("sha256").GetString(), Convert.ToHexStringLower(MeasuredRelease.ReplayFile(release.Log)));
    }

    [Fact]
    public async Task SpellingsOfYamlReadTheSameByTheReleaseAndByComposeLaunch()
    {
        // Anchors and merge keys, a flow mapping, a folded scalar, quoted keys: the .NET reader
        // (release.sh) and Compose's model (the launch, here the double's independent reader) agree.
        using var release = await MeasuredRelease.MakeAsync($$"""
            x-common: &common
              restart: unless-stopped
              image: registry.example/teeaspire/worker@{{MeasuredRelease.Worker}}
            services:
              "gateway":
                image: >-
                  registry.example:5000/teeaspire/gateway@{{MeasuredRelease.Gateway}}
                environment: { Parameters__master-key: "${MASTER_KEY}" }
              inference-worker:
                <<: *common
              'sidecar' : { "image": "docker.io/attacker/other@{{MeasuredRelease.Other}}" }
            """);
        await using var tpm = await SwtpmServer.StartAsync();

        var (code, output) = await release.LaunchAsync(tpm.Tcti);

        Assert.True(code == 0, output);
        Assert.Equal([MeasuredRelease.Gateway, MeasuredRelease.Worker, MeasuredRelease.Other], release.Events().Where(e => e.Type == "image").Select(e => e.Data));
    }

    [Fact]
    public async Task ALaunchWhoseComposeModelDiffersFromTheManifestIsRefused()
    {
        using var release = await MeasuredRelease.MakeAsync();
        await using var tpm = await SwtpmServer.StartAsync();
        // A manifest that hides a service (as the old line reader made them): the compose hash is right.
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(release.ManifestPath))!;
        manifest["services"]!.AsObject().Remove("inference-worker");
        var forged = Path.Combine(release.Dir, "forged-manifest.json");
        await File.WriteAllTextAsync(forged, manifest.ToJsonString());

        var (code, output) = await release.LaunchAsync(tpm.Tcti, manifest: forged);

        Assert.NotEqual(0, code);
        Assert.Contains("Compose resolves the release differently from its manifest", output);
        Assert.False(File.Exists(release.Log));
    }

    [Fact]
    public async Task ASecretsFileSettingANonSecretComposeVariableIsRefused()
    {
        using var release = await MeasuredRelease.MakeAsync(MeasuredRelease.DefaultCompose.Replace($"worker@{MeasuredRelease.Worker}", $"worker@${{WORKER_DIGEST:-{MeasuredRelease.Worker}}}", StringComparison.Ordinal));
        await using var tpm = await SwtpmServer.StartAsync();
        var secrets = Path.Combine(release.Dir, "hostile.env");
        await File.WriteAllTextAsync(secrets, $"MASTER_KEY=sk-tee-master-x\nWORKER_DIGEST={MeasuredRelease.Other}\n");

        var (code, output) = await release.LaunchAsync(tpm.Tcti, secrets: secrets, start: true);

        Assert.NotEqual(0, code);
        Assert.Contains("WORKER_DIGEST is not a secret variable of the release", output);
        Assert.False(File.Exists(release.Log));
        Assert.Equal("", await release.DockerAsync("ps", "-q"));
        Assert.Contains("0x0000000000000000000000000000000000000000000000000000000000000000", await tpm.RunToolAsync("tpm2_pcrread", "sha256:13"));
    }

    [Fact]
    public async Task SecretsThatChangeTheComposeModelBeyondTheEnvironmentAreRefused()
    {
        // release.sh was told no secrets, so its reader let MASTER_KEY into a command; the VM's
        // manifest then names it secret: Compose's model with and without the secret differ.
        var compose = MeasuredRelease.DefaultCompose.Replace("    environment:", "    command: [\"--tag\", \"${MASTER_KEY}\"]\n    environment:", StringComparison.Ordinal);
        using var release = await MeasuredRelease.MakeAsync(compose, declareSecret: false);
        await using var tpm = await SwtpmServer.StartAsync();
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(release.ManifestPath))!;
        manifest["secret_variables"] = new System.Text.Json.Nodes.JsonArray("MASTER_KEY");
        var named = Path.Combine(release.Dir, "named-manifest.json");
        await File.WriteAllTextAsync(named, manifest.ToJsonString());

        var (code, output) = await release.LaunchAsync(tpm.Tcti, manifest: named);

        Assert.NotEqual(0, code);
        Assert.Contains("the secrets change what Compose runs beyond the containers' environment", output);
    }

    [Fact]
    public async Task TheLaunchUnitsEnvironmentDoesNotReachCompose()
    {
        using var release = await MeasuredRelease.MakeAsync(MeasuredRelease.DefaultCompose.Replace($"worker@{MeasuredRelease.Worker}", $"worker@${{WORKER_DIGEST:-{MeasuredRelease.Worker}}}", StringComparison.Ordinal));
        await using var tpm = await SwtpmServer.StartAsync();

        // Inherited by the launch, as a unit's Environment= or the operator's shell would pass it.
        var (code, output) = await release.LaunchAsync(tpm.Tcti, environment: new Dictionary<string, string> { ["WORKER_DIGEST"] = MeasuredRelease.Other });

        Assert.True(code == 0, output);
        Assert.Contains(("image", MeasuredRelease.Worker), release.Events());
        Assert.DoesNotContain(("image", MeasuredRelease.Other), release.Events());
    }
}
