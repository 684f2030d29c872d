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
        var swapped = Path.Combine(release.Dir, "swapped.yaml");
        await File.WriteAllTextAsync(swapped, (await File.ReadAllTextAsync(release.ReleasedCompose)).Replace(MeasuredRelease.Gateway, MeasuredRelease.Other));
        Assert.Equal(0, (await release.LaunchAsync(host.Tpm.Tcti, compose: swapped)).Code);

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

        var allowed = await release.ObserveContainerAsync(host.Tpm.Tcti, "gateway-2", $"registry.example:5000/teeaspire/gateway@{MeasuredRelease.Gateway}");
        var unlisted = await release.ObserveContainerAsync(host.Tpm.Tcti, "prompt-logger", "registry.example/logger:latest");

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
}
